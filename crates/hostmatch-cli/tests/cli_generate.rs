//! Man pages and shell completions come from the clap definitions.

mod common;

#[test]
fn man_pages_cover_every_subcommand() {
    let s = common::Sysroot::new(None, None);
    let dir = s.file("man");
    let r = s.run(&["man", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for page in [
        "hostmatch.1",
        "hostmatch-doctor.1",
        "hostmatch-subid.1",
        "hostmatch-map.1",
        "hostmatch-docker.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
    let main = std::fs::read_to_string(dir.join("hostmatch.1")).unwrap();
    assert!(main.contains("Exit status"), "exit codes are documented");
}

#[test]
fn completions_know_the_subcommands() {
    for shell in ["bash", "zsh", "fish"] {
        let s = common::Sysroot::new(None, None);
        let r = s.run(&["completions", shell]);
        assert_eq!(r.code, 0);
        for word in ["doctor", "subid", "translate"] {
            assert!(r.stdout.contains(word), "{shell} completion lacks {word}");
        }
    }
}
