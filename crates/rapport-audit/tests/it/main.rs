//! Integration tests of the reply audit.

mod table;
