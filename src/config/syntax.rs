//! pest lexer (being written).
