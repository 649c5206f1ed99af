//! The settings `open` reads besides its `config`, under the environment variables' names:
//! the environment (wasi:cli/environment), or in the `proxy` build, whose host may offer no
//! environment, WASI runtime config (wasi:config/store).

use crate::error::Error;

/// The component's environment (what the host chose to give it).
#[cfg(all(target_arch = "wasm32", not(feature = "proxy")))]
pub fn vars() -> Result<Vec<(String, String)>, Error> {
    Ok(wasip2::cli::environment::get_environment())
}

/// The runtime config's values, their keys taken as variable names: `aws_region` (Spin
/// and wasmCloud take lowercase names) or `AWS_REGION` both mean `AWS_REGION`.
#[cfg(all(target_arch = "wasm32", feature = "proxy"))]
pub fn vars() -> Result<Vec<(String, String)>, Error> {
    use crate::bindings::wasi::config::store;
    use crate::error::invalid_config;
    let all = store::get_all().map_err(|e| {
        let why = match e {
            store::Error::Upstream(why) | store::Error::Io(why) => why,
        };
        invalid_config(format!("the host's runtime config (wasi:config/store) could not be read: {why}"))
    })?;
    Ok(as_variables(all))
}

/// Native builds (unit tests) have none: tests pass their own [`Env`].
#[cfg(not(target_arch = "wasm32"))]
pub fn vars() -> Result<Vec<(String, String)>, Error> {
    Ok(Vec::new())
}

/// Config keys as variable names: upper case, `-` and `.` as `_`.
#[cfg_attr(not(all(target_arch = "wasm32", feature = "proxy")), allow(dead_code))]
fn as_variables(all: Vec<(String, String)>) -> Vec<(String, String)> {
    all.into_iter().map(|(key, value)| (key.to_ascii_uppercase().replace(['-', '.'], "_"), value)).collect()
}

/// A view of environment variables; an empty value counts as unset (and a name given twice,
/// as runtime config's `aws_region` and `AWS_REGION` can be, takes its first value set).
pub struct Env<'a>(pub &'a [(String, String)]);

impl Env<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_name_variables_in_any_case() {
        let vars = as_variables(vec![
            ("aws_profile".into(), "".into()),
            ("aws_region".into(), "eu-west-3".into()),
            ("aws-endpoint-url".into(), "http://x".into()),
            ("AWS_PROFILE".into(), "p".into()),
        ]);
        let env = Env(&vars);
        assert_eq!((env.get("AWS_REGION"), env.get("AWS_ENDPOINT_URL"), env.get("AWS_PROFILE")), (Some("eu-west-3"), Some("http://x"), Some("p")));
    }
}
