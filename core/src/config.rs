//! Config files: a flat TOML table whose keys are the command-line flags (`listen`,
//! `admin-token-file`, ...). Each value becomes the flag's `AIRLOCK_*` environment variable
//! unless that variable is already set, so the precedence is flag > environment > file.
//! Pure: the caller reads the file and sets the variables.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("not valid TOML: {0}")]
    Toml(String),
    #[error("unknown setting {key:?} (known: {known})")]
    Unknown { key: String, known: String },
    #[error("setting {0:?} must be a string, number or boolean")]
    BadValue(String),
}

/// The environment variable of a flag name: `admin-token-file` -> `AIRLOCK_ADMIN_TOKEN_FILE`.
pub fn env_name(key: &str) -> String {
    format!("AIRLOCK_{}", key.replace('-', "_").to_ascii_uppercase())
}

/// The `--config FILE` value among command-line arguments, if any.
pub fn config_path_from_args(args: &[String]) -> Option<String> {
    let mut iter = args.iter();
    while let Some(a) = iter.next() {
        if a == "--config" {
            return iter.next().cloned();
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(v.to_string());
        }
    }
    None
}

/// (variable, value) pairs for a config file's settings; `known` lists the variables the
/// program reads.
pub fn env_assignments(text: &str, known: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Toml(e.to_string()))?;
    let mut out = Vec::new();
    for (key, value) in table {
        // A standard variable outside AIRLOCK_* (AWS_REGION for --s3-region) is keyed by its
        // own name, `aws-region`, as the list of known keys says.
        let plain = key.replace('-', "_").to_ascii_uppercase();
        let var = if known.contains(&plain) && !plain.starts_with("AIRLOCK_") {
            plain
        } else {
            env_name(&key)
        };
        if !known.contains(&var) || var == "AIRLOCK_CONFIG" {
            let mut names: Vec<String> = known
                .iter()
                .filter(|k| *k != "AIRLOCK_CONFIG")
                .map(|k| {
                    k.trim_start_matches("AIRLOCK_")
                        .to_ascii_lowercase()
                        .replace('_', "-")
                })
                .collect();
            names.sort();
            names.dedup();
            return Err(ConfigError::Unknown {
                key,
                known: names.join(", "),
            });
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            _ => return Err(ConfigError::BadValue(key)),
        };
        out.push((var, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_variables() {
        let known = vec![
            "AIRLOCK_LISTEN".to_string(),
            "AIRLOCK_ADMIN_TOKEN_FILE".to_string(),
            "AIRLOCK_TIMESTAMP_HOURS".to_string(),
        ];
        let v = env_assignments(
            "listen = \"0.0.0.0:80\"\nadmin-token-file = \"/etc/a\"\ntimestamp_hours = 12\n",
            &known,
        )
        .unwrap();
        assert!(v.contains(&("AIRLOCK_LISTEN".into(), "0.0.0.0:80".into())));
        assert!(v.contains(&("AIRLOCK_ADMIN_TOKEN_FILE".into(), "/etc/a".into())));
        assert!(v.contains(&("AIRLOCK_TIMESTAMP_HOURS".into(), "12".into())));
        let aws = vec!["AWS_REGION".to_string()];
        assert_eq!(
            env_assignments("aws-region = \"eu-west-1\"", &aws).unwrap(),
            vec![("AWS_REGION".to_string(), "eu-west-1".to_string())]
        );
        assert!(matches!(
            env_assignments("lisen = 1", &known),
            Err(ConfigError::Unknown { .. })
        ));
        assert!(matches!(
            env_assignments("listen = [1]", &known),
            Err(ConfigError::BadValue(_))
        ));
        assert!(matches!(
            env_assignments("listen = ", &known),
            Err(ConfigError::Toml(_))
        ));
    }

    #[test]
    fn finds_the_config_flag() {
        let args: Vec<String> = ["x", "serve", "--config", "a.toml"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(config_path_from_args(&args).as_deref(), Some("a.toml"));
        let args: Vec<String> = ["x", "--config=b.toml"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(config_path_from_args(&args).as_deref(), Some("b.toml"));
    }
}
