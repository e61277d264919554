//! The CPython object model over target memory: the object [`Reader`] (strings, ints, dicts), what
//! leakspy knows of each type ([`TypeInfo`], read once by [`TypeCache`]), every `sys.getsizeof`
//! rule ([`sizes`]), and the pure decoders ([`decode`]) that turn target bytes into values.
//!
//! May import: `error`, the layout and memory crates. Nothing else of this crate: everything above
//! (stacks, heap walkers, analyses, commands) builds on it.

pub mod cache;
pub mod decode;
pub mod origin_kind;
pub mod reader;
pub mod sizes;
pub mod types;

pub use cache::{read_type, TypeCache};
pub use origin_kind::OriginKind;
pub use reader::{ft_refcounts, scan_words, KeysTable, Reader, MAX_DICT_ENTRIES, MAX_STR_CHARS};
pub use sizes::SizeKind;
pub use types::{type_name, type_name_of, TypeInfo};
