//! The addon graph.
