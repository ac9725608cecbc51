//! IPVS data plane (being written): the desired table for now.
pub mod desired;
