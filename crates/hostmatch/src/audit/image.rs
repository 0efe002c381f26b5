//! The probe image: a tar stream with only the hostmatch binary at `/hostmatch`.
//!
//! A static binary goes in alone. A dynamically linked one (a normal cargo
//! build) also gets its ELF interpreter and the libraries `ldd` names, each at
//! the path the host loads it from, so that it runs in an otherwise empty
//! image; the containers then get `LD_LIBRARY_PATH` with those directories, in
//! case the host found a library through `ld.so.cache` only.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// Where the binary goes in the image.
pub const PROBE_PATH: &str = "/hostmatch";

/// The files of a probe image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// The binary on the host.
    pub binary: PathBuf,
    /// Libraries and the interpreter: host paths, put at the same path in the image.
    pub libs: Vec<PathBuf>,
}

impl Contents {
    /// The directories of the libraries, for `LD_LIBRARY_PATH` (None for a static binary).
    pub fn library_path(&self) -> Option<String> {
        let dirs: BTreeSet<String> = self
            .libs
            .iter()
            .filter_map(|l| l.parent())
            .map(|d| d.display().to_string())
            .collect();
        (!dirs.is_empty()).then(|| dirs.into_iter().collect::<Vec<_>>().join(":"))
    }
}

/// The absolute library paths in `ldd` output (`name => /path (0x..)` and
/// `/interpreter (0x..)` lines; the vDSO and unresolved names have none).
/// Returns an error naming a library `ldd` could not find.
pub fn parse_ldd(text: &str) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(Error::Unsupported(format!(
                        "the probe binary needs {}, which ldd cannot find",
                        name.trim()
                    )));
                }
                rest
            }
            None => line,
        };
        let path = target.split_whitespace().next().unwrap_or("");
        if path.starts_with('/') {
            out.push(PathBuf::from(path));
        }
    }
    Ok(out)
}

/// What goes into the image for `binary`: `ldd` decides between static and dynamic.
pub fn contents(binary: &Path) -> Result<Contents> {
    let out = Command::new("ldd").arg(binary).output();
    let libs = match out {
        // ldd exits 1 for a static binary ("not a dynamic executable").
        Ok(o) if o.status.success() => parse_ldd(&String::from_utf8_lossy(&o.stdout))?,
        Ok(_) => Vec::new(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if is_dynamic(binary)? {
                return Err(Error::Unsupported(
                    "the hostmatch binary is dynamically linked and ldd is missing: cannot build the probe image".into(),
                ));
            }
            Vec::new()
        }
        Err(e) => return Err(Error::io("ldd", e)),
    };
    Ok(Contents {
        binary: binary.to_path_buf(),
        libs,
    })
}

/// Whether an ELF file has a PT_INTERP program header (needs a dynamic loader).
pub fn is_dynamic(binary: &Path) -> Result<bool> {
    let data = std::fs::read(binary).map_err(|e| Error::io(binary, e))?;
    Ok(elf_has_interp(&data))
}

/// Whether ELF bytes (64- or 32-bit, little or big endian) have a PT_INTERP header.
pub fn elf_has_interp(d: &[u8]) -> bool {
    if d.len() < 52 || &d[..4] != b"\x7fELF" {
        return false;
    }
    let is64 = d[4] == 2;
    let le = d[5] == 1;
    let rd = |off: usize, n: usize| -> Option<u64> {
        let b = d.get(off..off + n)?;
        let mut v = 0u64;
        for i in 0..n {
            let byte = if le { b[n - 1 - i] } else { b[i] } as u64;
            v = (v << 8) | byte;
        }
        Some(v)
    };
    let (phoff, phentsize, phnum) = if is64 {
        (rd(0x20, 8), rd(0x36, 2), rd(0x38, 2))
    } else {
        (rd(0x1c, 4), rd(0x2a, 2), rd(0x2c, 2))
    };
    let (Some(phoff), Some(size), Some(num)) = (phoff, phentsize, phnum) else {
        return false;
    };
    (0..num).any(|i| rd((phoff + i * size) as usize, 4) == Some(3)) // PT_INTERP
}

fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(size);
    h
}

/// Writes the image's tar stream: the directories, the libraries (their
/// contents, symlinks resolved) and the binary at [`PROBE_PATH`], all root-owned.
pub fn write_tar<W: Write>(c: &Contents, out: W) -> Result<W> {
    let mut b = tar::Builder::new(out);
    let mut dirs = BTreeSet::new();
    for lib in &c.libs {
        let mut d = lib.parent();
        while let Some(p) = d {
            if p != Path::new("/") {
                dirs.insert(p.to_path_buf());
            }
            d = p.parent();
        }
    }
    for d in &dirs {
        let mut h = header(tar::EntryType::Directory, 0o755, 0);
        let rel = d.strip_prefix("/").unwrap_or(d);
        b.append_data(&mut h, rel, std::io::empty())
            .map_err(|e| Error::io(d, e))?;
    }
    let mut add = |src: &Path, dest: &Path, mode: u32| -> Result<()> {
        let io = |e| Error::io(src, e);
        let f = std::fs::File::open(src).map_err(io)?;
        let len = f.metadata().map_err(io)?.len();
        let mut h = header(tar::EntryType::Regular, mode, len);
        let rel = dest.strip_prefix("/").unwrap_or(dest);
        b.append_data(&mut h, rel, f).map_err(io)
    };
    for lib in &c.libs {
        add(lib, lib, 0o755)?;
    }
    add(&c.binary, Path::new(PROBE_PATH), 0o755)?;
    b.into_inner().map_err(|e| Error::io(PROBE_PATH, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_libraries_and_interpreter_not_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1d)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1c)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f1d)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn a_library_ldd_cannot_find_is_an_error() {
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.to_string().contains("libfoo.so.1"), "{err}");
    }

    #[test]
    fn this_test_binary_is_dynamic_and_busybox_static_is_not() {
        let me = std::env::current_exe().unwrap();
        assert!(is_dynamic(&me).unwrap());
        let bb = Path::new("/bin/busybox");
        if bb.exists()
            && Command::new("ldd")
                .arg(bb)
                .output()
                .is_ok_and(|o| !o.status.success())
        {
            assert!(!is_dynamic(bb).unwrap());
        }
        assert!(!elf_has_interp(
            b"not an elf file at all, just text here..............."
        ));
    }

    #[test]
    fn tar_holds_root_owned_binary_libraries_and_their_directories() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        std::fs::write(&bin, b"BINARY").unwrap();
        let lib = d.path().join("lib").join("libx.so");
        std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
        std::fs::write(&lib, b"LIB").unwrap();
        let c = Contents {
            binary: bin,
            libs: vec![lib.clone()],
        };
        assert_eq!(
            c.library_path().unwrap(),
            lib.parent().unwrap().display().to_string()
        );
        let data = write_tar(&c, Vec::new()).unwrap();
        let mut a = tar::Archive::new(&data[..]);
        let mut seen = Vec::new();
        for e in a.entries().unwrap() {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            seen.push((
                e.path().unwrap().display().to_string(),
                h.entry_type().is_dir(),
            ));
        }
        assert_eq!(seen.last().unwrap(), &("hostmatch".to_string(), false));
        let rel_lib = lib.strip_prefix("/").unwrap().display().to_string();
        assert!(seen.contains(&(rel_lib, false)), "{seen:?}");
        let rel_dir = lib
            .parent()
            .unwrap()
            .strip_prefix("/")
            .unwrap()
            .display()
            .to_string();
        assert!(
            seen.contains(&(rel_dir.clone(), true))
                || seen.contains(&(format!("{rel_dir}/"), true)),
            "{seen:?}"
        );
    }
}
