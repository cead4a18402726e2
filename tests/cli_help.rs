//! The command line documents itself: every flag and positional of every subcommand has help
//! text, and `trm completions` writes scripts the shells accept.

use clap::CommandFactory;
use std::path::PathBuf;
use std::process::Command;

/// Arguments clap generates itself (their help comes with clap).
const GENERATED: [&str; 2] = ["help", "version"];

/// How an argument looks on the command line: `--name`, `-n` or `<NAME>`.
fn shown(arg: &clap::Arg) -> String {
    if let Some(long) = arg.get_long() {
        format!("--{long}")
    } else if let Some(short) = arg.get_short() {
        format!("-{short}")
    } else {
        let names = arg.get_value_names().unwrap_or_default();
        match names.first() {
            Some(name) => format!("<{name}>"),
            None => format!("<{}>", arg.get_id().as_str().to_uppercase()),
        }
    }
}

fn has_text(text: Option<&clap::builder::StyledStr>) -> bool {
    text.is_some_and(|t| !t.to_string().trim().is_empty())
}

/// Every argument without help text, as "trm sub sub: --flag", in the whole command tree.
fn args_without_help(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
    for arg in cmd.get_arguments() {
        if GENERATED.contains(&arg.get_id().as_str()) {
            continue;
        }
        if !has_text(arg.get_help()) && !has_text(arg.get_long_help()) {
            out.push(format!("{path}: {}", shown(arg)));
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        args_without_help(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

/// Every subcommand without an about line, in the whole command tree.
fn commands_without_about(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("{path} {}", sub.get_name());
        if !has_text(sub.get_about()) && !has_text(sub.get_long_about()) {
            out.push(name.clone());
        }
        commands_without_about(sub, &name, out);
    }
}

#[test]
fn every_argument_has_help() {
    let cmd = trm::cli::Cli::command();
    let mut missing = Vec::new();
    args_without_help(&cmd, "trm", &mut missing);
    assert!(
        missing.is_empty(),
        "{} arguments have no help text (add a /// doc comment):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

#[test]
fn the_check_names_every_argument_without_help() {
    let cmd = clap::Command::new("t")
        .arg(
            clap::Arg::new("documented")
                .long("documented")
                .help("Has help."),
        )
        .arg(clap::Arg::new("bare").long("bare"))
        .subcommand(
            clap::Command::new("sub")
                .about("A subcommand.")
                .arg(clap::Arg::new("file"))
                .arg(
                    clap::Arg::new("long_only")
                        .long("long-only")
                        .long_help("Long help."),
                ),
        );
    let mut missing = Vec::new();
    args_without_help(&cmd, "t", &mut missing);
    assert_eq!(missing, ["t: --bare", "t sub: <FILE>"]);
}

#[test]
fn every_subcommand_has_about() {
    let cmd = trm::cli::Cli::command();
    let mut missing = Vec::new();
    commands_without_about(&cmd, "trm", &mut missing);
    assert!(
        missing.is_empty(),
        "{} subcommands have no description (add a /// doc comment):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
}

#[test]
fn command_tree_is_consistent() {
    // clap's own checks (conflicting names, bad defaults, ...); clap compiles them only into
    // debug builds, so under `cargo test --release` this only builds the command tree.
    trm::cli::Cli::command().debug_assert();
}

/// `trm completions SHELL`: asserts success and returns the script.
fn completions(shell: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_trm"))
        .args(["completions", shell])
        .output()
        .expect("run trm");
    assert!(
        out.status.success(),
        "trm completions {shell} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "trm completions {shell} wrote to stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = String::from_utf8(out.stdout).expect("UTF-8 script");
    // fish writes long flags as `-l checkpoint`
    let flag = if shell == "fish" {
        "-l checkpoint"
    } else {
        "--checkpoint"
    };
    for word in ["export", flag, "completions"] {
        assert!(
            script.contains(word),
            "the {shell} script does not mention {word}"
        );
    }
    script
}

#[test]
fn completions_for_bash_and_zsh() {
    completions("bash");
    completions("zsh");
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        completions(shell);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_trm"))
        .args(["completions", "tcsh"])
        .output()
        .expect("run trm");
    assert!(!out.status.success(), "an unknown shell is refused");
}

/// Whether `shell -n` accepts `script` (a syntax check that runs nothing).
fn syntax_ok(shell: &str, script: &str, ext: &str) -> Result<(), String> {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("trm-completion-{}.{ext}", std::process::id()));
    std::fs::write(&path, script).expect("write the script");
    let out = Command::new(shell).arg("-n").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let out = out.map_err(|e| format!("cannot run {shell}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{shell} -n rejects the script ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn bash_script_is_valid_bash() {
    syntax_ok("bash", &completions("bash"), "bash").unwrap();
}

#[test]
fn zsh_script_is_valid_zsh_where_zsh_is_installed() {
    let installed = Command::new("zsh").arg("-c").arg("true").output().is_ok();
    if !installed {
        eprintln!("zsh not installed: syntax check skipped");
        return;
    }
    syntax_ok("zsh", &completions("zsh"), "zsh").unwrap();
}
