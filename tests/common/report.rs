//! The part of `leakspy dump --json`'s report the checks read, parsed with serde.

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Report {
    pub pid: i64,
    pub python_version: String,
    pub executable: String,
    pub layout: Layout,
    pub pause_ms: f64,
    pub partial: bool,
    pub warnings: Vec<String>,
    pub threads: Vec<ReportThread>,
    pub heap: Heap,
}

#[derive(Debug, Deserialize)]
pub struct Layout {
    pub file: String,
    pub source: String,
    pub version_source: String,
}

#[derive(Debug, Deserialize)]
pub struct ReportThread {
    pub thread_id: u64,
    pub native_id: Option<i64>,
    #[serde(default)]
    pub host_native_id: Option<i64>,
    pub name: Option<String>,
    pub holds_gil: bool,
    /// null when unknown (core files).
    pub idle: Option<bool>,
    pub frames: Vec<ReportFrame>,
    #[serde(default)]
    pub truncated: Option<String>,
}

#[derive(Debug, Deserialize, Clone)]
pub struct ReportFrame {
    pub function: String,
    pub filename: String,
    pub line: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Heap {
    pub objects: u64,
    pub bytes: u64,
    pub tracked_objects: u64,
    pub tracked_bytes: u64,
    pub types: Vec<HeapType>,
}

#[derive(Debug, Deserialize)]
pub struct HeapType {
    #[serde(rename = "type")]
    pub type_name: String,
    pub count: u64,
    pub bytes: u64,
    pub tracked: u64,
    pub tracked_bytes: u64,
    /// False for types whose `__sizeof__` leakspy does not model (counted at their basic size).
    pub size_exact: bool,
}
