//! Fuzzes `gradlab merge`'s shard folders: the bytes become the meta (.json) and rows (.csv) of
//! two shards of the `defaults` experiment, written into two folders as `gradlab run --shard`
//! would; merging them either finishes the run or gives a one-line error and writes nothing,
//! never a panic.
#![no_main]
use gradlab::lab::runner::{shard::merge, RunOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Four parts separated by 0xFF: meta 1, rows 1, meta 2, rows 2.
    let parts: Vec<&[u8]> = data.splitn(4, |&b| b == 0xFF).collect();
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for (i, pair) in parts.chunks(2).enumerate() {
        let exp = tmp.path().join(format!("run{i}")).join("defaults");
        std::fs::create_dir_all(&exp).unwrap();
        std::fs::write(exp.join(format!("shard-{}-of-2.json", i + 1)), pair[0]).unwrap();
        if let Some(rows) = pair.get(1) {
            std::fs::write(exp.join(format!("shard-{}-of-2.csv", i + 1)), rows).unwrap();
        }
        dirs.push(tmp.path().join(format!("run{i}")));
    }
    let out = tmp.path().join("out");
    let opts = RunOptions {
        out: out.clone(),
        quick: true,
        threads: Some(1),
        command: "fuzz".into(),
        progress: false,
        shard: None,
    };
    if let Err(e) = merge(&dirs, &opts, &gradlab::experiments::all()) {
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(!out.join("defaults").exists(), "a failed merge wrote {}", out.display());
    }
});
