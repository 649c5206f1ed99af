//! The environment variables `open` reads (wasi:cli/environment).

/// The component's environment (what the host chose to give it).
#[cfg(target_arch = "wasm32")]
pub fn vars() -> Vec<(String, String)> {
    wasip2::cli::environment::get_environment()
}

/// Native builds (unit tests) have none: tests pass their own [`Env`].
#[cfg(not(target_arch = "wasm32"))]
pub fn vars() -> Vec<(String, String)> {
    Vec::new()
}

/// A view of environment variables; an empty value counts as unset.
pub struct Env<'a>(pub &'a [(String, String)]);

impl Env<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }
}
