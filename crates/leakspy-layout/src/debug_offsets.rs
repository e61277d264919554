pub struct DebugOffsets; pub struct Mismatch;
