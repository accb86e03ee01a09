//! Compiles the panel's Slint UI into Rust.

fn main() {
    // Element debug info lets the UI tests find controls by accessible
    // label (Slint's testing backend); release builds leave it out.
    let debug_info = std::env::var("PROFILE").is_ok_and(|p| p == "debug");
    let config = slint_build::CompilerConfiguration::new()
        .with_style("fluent-dark".into())
        .with_debug_info(debug_info);
    if let Err(e) = slint_build::compile_with_config("ui/main.slint", config) {
        // slint_build already printed the diagnostics with file:line.
        panic!("ui/main.slint does not compile: {e}");
    }
}
