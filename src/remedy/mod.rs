pub mod produce;
