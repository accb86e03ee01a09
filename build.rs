//! Compiles the panel's Slint UI into Rust.

fn main() {
    let config = slint_build::CompilerConfiguration::new().with_style("fluent-dark".into());
    if let Err(e) = slint_build::compile_with_config("ui/main.slint", config) {
        // slint_build already printed the diagnostics with file:line.
        panic!("ui/main.slint does not compile: {e}");
    }
}
