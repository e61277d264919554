//! Pure decoders of target bytes.
