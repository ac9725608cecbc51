//! Keyword table (being written).
