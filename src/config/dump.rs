//! `-d` dump (stub, being written).
use super::model::Config;
pub fn dump(_c: &Config) -> String {
    String::new()
}
