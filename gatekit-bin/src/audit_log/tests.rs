use std::fs;
use std::path::Path;
use std::sync::Arc;

use gatekit_core::audit::{AuditEvent, ChainHead, ChainKey, CommandEvent, Verdict, VerifyError};
use gatekit_core::{Class, ClassSet, Identity, Protocol};

use super::*;

const KEY: &[u8] = b"writer-test-chain-key-0123456789";

fn key() -> ChainKey {
    ChainKey::new(KEY).unwrap()
}

fn event(i: usize) -> AuditEvent {
    AuditEvent::Command(CommandEvent {
        session: format!("s{}", i % 8).into(),
        identity: Arc::new(Identity::new("alice", ["dev"])),
        target: "shop".into(),
        protocol: Protocol::Postgres,
        number: 1,
        command: format!("SELECT * FROM customers WHERE id = {i}"),
        classes: ClassSet::of(Class::Read),
        objects: vec!["public.customers".into()],
        verdict: Verdict::Allow,
        rule: None,
        reason: None,
        rows: Some(1),
        bytes: Some(100),
        duration_us: Some(250),
        error: None,
    })
}

fn config(dir: &Path, sync: SyncMode) -> AuditLogConfig {
    let mut c = AuditLogConfig::new(dir);
    c.sync = sync;
    c
}

fn head_file(dir: &Path) -> Option<ChainHead> {
    FileHeadStore::new(dir).load().unwrap()
}

/// Verifies the whole trail in `dir` against its head file; returns the head.
fn verified(dir: &Path, key: Option<ChainKey>) -> ChainHead {
    let report = verify_trail(dir, key, head_file(dir)).unwrap();
    assert_eq!(report.broken, None, "{report:?}");
    assert_eq!(report.checkpoint, Some(report.head));
    report.head
}

/// Waits (up to 5 s) until the head file says `seq`.
async fn wait_for_checkpoint(dir: &Path, seq: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while head_file(dir).map(|h| h.seq) != Some(seq) {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint at seq {seq}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn line_count(path: &Path) -> usize {
    fs::read(path)
        .unwrap()
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// Waits (up to 5 s) until `path` holds `lines` lines.
async fn wait_for_lines(path: &Path, lines: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while fs::read(path).map_or(0, |b| b.iter().filter(|b| **b == b'\n').count()) < lines {
        assert!(
            std::time::Instant::now() < deadline,
            "{lines} lines not written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mode_writes_in_batches_and_fsyncs_soon_after() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let log = AuditLog::open(config(&dir, SyncMode::Interval)).unwrap();
    for i in 0..20 {
        log.append(event(i)).await.unwrap();
    }
    // Written together, without a flush.
    wait_for_lines(&dir.join(TRAIL_FILE), 20).await;
    // Fsynced and checkpointed within the interval, without a flush.
    wait_for_checkpoint(&dir, 20).await;
    let stats = log.stats();
    assert_eq!(stats.records, 20);
    assert!(stats.batches < 20, "{stats:?}");
    assert!(stats.fsyncs >= 1 && stats.fsyncs < 20, "{stats:?}");
    assert_eq!(verified(&dir, None).seq, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mode_writes_long_before_the_fsync_is_due() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), SyncMode::Interval);
    c.sync_interval = std::time::Duration::from_secs(3600);
    let log = AuditLog::open(c).unwrap();
    log.append(event(0)).await.unwrap();
    log.append_detached(result(1)).unwrap();
    // In the page cache within 10 ms (a process crash loses no more), though the fsync
    // is an hour away.
    wait_for_lines(&tmp.path().join(TRAIL_FILE), 2).await;
    let stats = log.stats();
    assert_eq!((stats.records, stats.fsyncs), (2, 0), "{stats:?}");
    // A later batch is written on its own schedule too.
    log.append(event(1)).await.unwrap();
    wait_for_lines(&tmp.path().join(TRAIL_FILE), 3).await;
    assert_eq!(log.stats().fsyncs, 0);
    assert_eq!(log.close().await.unwrap().seq, 3);
    assert_eq!(verified(tmp.path(), None).seq, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mode_concurrent_sessions_keep_one_chain_and_a_closed_trail_refuses() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(tmp.path(), SyncMode::Interval)).unwrap();
    let mut sessions = Vec::new();
    for s in 0..8 {
        let log = log.clone();
        sessions.push(tokio::spawn(async move {
            for i in 0..40 {
                log.append(event(s * 100 + i)).await.unwrap();
            }
        }));
    }
    for s in sessions {
        s.await.unwrap();
    }
    // Written in batches, far fewer than the records.
    log.flush().await.unwrap();
    let stats = log.stats();
    assert_eq!(stats.records, 320, "{stats:?}");
    assert!(stats.batches < 320 / 4, "{stats:?}");
    // Idle after a fsync, the writer is woken by the next record and fsyncs it too.
    log.append(event(1000)).await.unwrap();
    wait_for_checkpoint(tmp.path(), 321).await;
    let other = log.clone();
    assert_eq!(log.close().await.unwrap().seq, 321);
    assert!(matches!(
        other.append(event(1001)).await,
        Err(AuditError::Closed)
    ));
    assert_eq!(verified(tmp.path(), None).seq, 321);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_mode_acknowledges_after_the_fsync() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(tmp.path(), SyncMode::Always)).unwrap();
    for i in 0..5 {
        log.append(event(i)).await.unwrap();
        // One append at a time: each was fsynced before it returned.
        assert_eq!(log.stats().fsyncs, i as u64 + 1);
    }
    // Each fsync is checkpointed without a flush.
    wait_for_checkpoint(tmp.path(), 5).await;
    let head = log.close().await.unwrap();
    assert_eq!(head.seq, 5);
    assert_eq!(verified(tmp.path(), None), head);
}

fn result(number: u64) -> AuditEvent {
    AuditEvent::CommandResult(gatekit_core::audit::CommandResultEvent {
        session: "s1".into(),
        number,
        rows: number,
        bytes: 64,
        duration_us: 100,
        error: None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_appends_keep_their_order_in_both_modes() {
    for sync in [SyncMode::Interval, SyncMode::Always] {
        let tmp = tempfile::tempdir().unwrap();
        let log = AuditLog::open(config(tmp.path(), sync)).unwrap();
        log.append(event(0)).await.unwrap();
        for n in 1..=20 {
            log.append_detached(result(n)).unwrap();
        }
        // A later acknowledged record lands after them.
        log.append(event(1)).await.unwrap();
        let head = log.close().await.unwrap();
        assert_eq!(head.seq, 22, "{sync:?}");
        assert_eq!(verified(tmp.path(), None), head);
        let numbers = log_numbers(tmp.path());
        assert_eq!(numbers, (1..=20).collect::<Vec<u64>>(), "{sync:?}");
        let text = fs::read_to_string(tmp.path().join(TRAIL_FILE)).unwrap();
        assert!(text.lines().last().unwrap().contains("WHERE id = 1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mode_results_ride_with_their_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let trail = tmp.path().join(TRAIL_FILE);
    let log = AuditLog::open(config(tmp.path(), SyncMode::Interval)).unwrap();
    log.append(event(0)).await.unwrap();
    log.append_detached(result(1)).unwrap();
    log.append(event(1)).await.unwrap();
    // Chained at once, in order, and written without a flush.
    wait_for_lines(&trail, 3).await;
    assert_eq!(log.stats().records, 3);
    let text = fs::read_to_string(&trail).unwrap();
    assert!(
        text.lines().nth(1).unwrap().contains("command_result"),
        "{text}"
    );
    // Alone, a result is written too, without a flush.
    log.append_detached(result(2)).unwrap();
    wait_for_lines(&trail, 4).await;
    // Fsynced and checkpointed too, and a flush writes what waits at once.
    wait_for_checkpoint(tmp.path(), 4).await;
    log.append_detached(result(3)).unwrap();
    assert_eq!(log.flush().await.unwrap().seq, 5);
    assert_eq!(line_count(&trail), 5);
    assert_eq!(log_numbers(tmp.path()), [1, 2, 3]);
    assert_eq!(log.close().await.unwrap().seq, 5);
    assert_eq!(verified(tmp.path(), None).seq, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detached_append_never_waits_for_a_full_queue() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), SyncMode::Always);
    c.max_pending = 1;
    let log = AuditLog::open(c).unwrap();
    let taken = log.shared.permits.clone().try_acquire_owned().unwrap();
    assert!(matches!(
        log.append_detached(result(1)),
        Err(AuditError::Busy)
    ));
    assert_eq!(log.stats().dropped, 1);
    drop(taken);
    log.append_detached(result(2)).unwrap();
    let head = log.close().await.unwrap();
    assert_eq!(head.seq, 1);
    assert_eq!(log_numbers(tmp.path()), [2]);
}

fn log_numbers(dir: &Path) -> Vec<u64> {
    fs::read_to_string(dir.join(TRAIL_FILE))
        .unwrap()
        .lines()
        .filter_map(|l| {
            match gatekit_core::audit::AuditRecord::parse(l.as_bytes())
                .ok()?
                .event
            {
                Some(AuditEvent::CommandResult(e)) => Some(e.number),
                _ => None,
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn always_mode_group_commits_concurrent_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(tmp.path(), SyncMode::Always)).unwrap();
    let mut sessions = Vec::new();
    for s in 0..8 {
        let log = log.clone();
        sessions.push(tokio::spawn(async move {
            for i in 0..40 {
                log.append(event(s * 100 + i)).await.unwrap();
            }
        }));
    }
    for s in sessions {
        s.await.unwrap();
    }
    let stats = log.stats();
    assert_eq!(stats.records, 320);
    assert!(stats.fsyncs < stats.records, "{stats:?}");
    assert_eq!(stats.fsyncs, stats.batches, "{stats:?}");
    assert_eq!(log.close().await.unwrap().seq, 320);
    assert_eq!(verified(tmp.path(), None).seq, 320);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mode_fsyncs_off_the_lock_while_sessions_append_and_files_rotate() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), SyncMode::Interval);
    c.sync_interval = std::time::Duration::from_millis(1);
    c.max_file_bytes = 4_000;
    let log = AuditLog::open(c).unwrap();
    let mut sessions = Vec::new();
    for s in 0..4 {
        let log = log.clone();
        sessions.push(tokio::spawn(async move {
            for i in 0..60 {
                log.append(event(s * 100 + i)).await.unwrap();
                log.append_detached(result(i as u64 + 1)).unwrap();
                if i % 10 == 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                }
            }
        }));
    }
    for s in sessions {
        s.await.unwrap();
    }
    // The periodic fsyncs ran while records were written and files rotated under them;
    // the chain is whole, the checkpoint never ran ahead of the disk, and it catches up.
    wait_for_checkpoint(tmp.path(), 480).await;
    let stats = log.stats();
    assert!(stats.fsyncs > 1 && stats.rotations > 1, "{stats:?}");
    assert_eq!(log.close().await.unwrap().seq, 480);
    assert_eq!(verified(tmp.path(), None).seq, 480);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    for sync in [SyncMode::Always, SyncMode::Interval, SyncMode::Always] {
        let mut c = config(tmp.path(), sync);
        c.key = Some(key());
        let log = AuditLog::open(c).unwrap();
        for i in 0..10 {
            log.append(event(i)).await.unwrap();
        }
        log.close().await.unwrap();
    }
    assert_eq!(verified(tmp.path(), Some(key())).seq, 30);
    // The key is what makes it verify.
    let report = verify_trail(tmp.path(), None, head_file(tmp.path())).unwrap();
    assert_eq!(
        report.broken.map(|b| b.error),
        Some(VerifyError::PrevMismatch { seq: 2 })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_continues_the_chain_across_files() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = config(tmp.path(), SyncMode::Always);
    c.max_file_bytes = 2_000;
    c.key = Some(key());
    let log = AuditLog::open(c.clone()).unwrap();
    for i in 0..30 {
        log.append(event(i)).await.unwrap();
    }
    let rotations = log.stats().rotations;
    assert!(rotations >= 5, "{:?}", log.stats());
    log.close().await.unwrap();
    // Restart: the chain resumes from the newest rotated file's last record.
    let log = AuditLog::open(c).unwrap();
    for i in 30..40 {
        log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    assert_eq!(verified(tmp.path(), Some(key())).seq, 40);

    let files = trail_files(tmp.path()).unwrap();
    assert!(files.len() as u64 > rotations);
    for f in &files[..files.len() - 1] {
        let name = f.file_name().unwrap().to_str().unwrap();
        let text = fs::read_to_string(f).unwrap();
        let first =
            gatekit_core::audit::AuditRecord::parse(text.lines().next().unwrap().as_bytes())
                .unwrap();
        assert_eq!(name, rotated_name(first.seq));
        assert!(text.len() <= 2_000, "{name}: {}", text.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_refuses_a_cut_edited_or_uncheckpointed_trail() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let log = AuditLog::open(config(dir, SyncMode::Always)).unwrap();
    for i in 0..6 {
        log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    let trail = dir.join(TRAIL_FILE);
    let head = dir.join(HEAD_FILE);
    let good_trail = fs::read_to_string(&trail).unwrap();
    let good_head = fs::read_to_string(&head).unwrap();
    let open = || AuditLog::open(config(dir, SyncMode::Always));

    // The last record cut off.
    let lines: Vec<&str> = good_trail.split_inclusive('\n').collect();
    fs::write(&trail, lines[..5].concat()).unwrap();
    let err = open().unwrap_err();
    assert!(
        matches!(
            &err,
            AuditError::Checkpoint {
                source: VerifyError::Truncated { next: 6, .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(HEAD_FILE), "{err}");

    // A record edited.
    fs::write(&trail, good_trail.replacen("id = 2", "id = 7", 1)).unwrap();
    let err = open().unwrap_err();
    assert!(
        matches!(
            &err,
            AuditError::Broken {
                line: 4,
                source: VerifyError::PrevMismatch { seq: 4 },
                ..
            }
        ),
        "{err}"
    );

    // The checkpoint does not match.
    fs::write(&trail, &good_trail).unwrap();
    let mut wrong = head_file_of(&good_head);
    wrong.hash[0] ^= 1;
    fs::write(&head, wrong.to_json()).unwrap();
    let err = open().unwrap_err();
    assert!(
        matches!(
            &err,
            AuditError::Checkpoint {
                source: VerifyError::CheckpointMismatch { seq: 6 },
                ..
            }
        ),
        "{err}"
    );

    // No checkpoint at all.
    fs::remove_file(&head).unwrap();
    let err = open().unwrap_err();
    assert!(
        matches!(&err, AuditError::CheckpointMissing { last_seq: 6, .. }),
        "{err}"
    );

    // Restored, it opens and continues.
    fs::write(&head, &good_head).unwrap();
    let log = open().unwrap();
    log.append(event(6)).await.unwrap();
    assert_eq!(log.close().await.unwrap().seq, 7);
}

fn head_file_of(text: &str) -> ChainHead {
    ChainHead::parse(text.trim().as_bytes()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_last_line_is_cut_on_start() {
    let tmp = tempfile::tempdir().unwrap();
    let log = AuditLog::open(config(tmp.path(), SyncMode::Interval)).unwrap();
    for i in 0..3 {
        log.append(event(i)).await.unwrap();
    }
    log.close().await.unwrap();
    let trail = tmp.path().join(TRAIL_FILE);
    let mut bytes = fs::read(&trail).unwrap();
    bytes.extend_from_slice(br#"{"seq":4,"ts":"2024-06"#);
    fs::write(&trail, bytes).unwrap();
    let log = AuditLog::open(config(tmp.path(), SyncMode::Interval)).unwrap();
    log.append(event(3)).await.unwrap();
    log.close().await.unwrap();
    assert_eq!(verified(tmp.path(), None).seq, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_where_the_directory_belongs_refuses_start_until_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    fs::write(&dir, "not a directory").unwrap();
    let err = AuditLog::open(config(&dir, SyncMode::Always)).unwrap_err();
    assert!(
        matches!(&err, AuditError::Io { action: "create directory", path, .. } if *path == dir),
        "{err}"
    );
    fs::remove_file(&dir).unwrap();
    let log = AuditLog::open(config(&dir, SyncMode::Always)).unwrap();
    log.append(event(0)).await.unwrap();
    log.close().await.unwrap();
    assert_eq!(verified(&dir, None).seq, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_checkpoint_fails_closed_until_it_works() {
    for sync in [SyncMode::Always, SyncMode::Interval] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let log = AuditLog::open(config(dir, sync)).unwrap();
        log.append(event(0)).await.unwrap();
        log.flush().await.unwrap();
        // A directory where the checkpoint's temporary file goes: storing it fails, as root too.
        let blocker = dir.join(format!("{HEAD_FILE}.tmp"));
        fs::create_dir(&blocker).unwrap();
        // This record is written (and in `always` mode fsynced) before the checkpoint fails.
        log.append(event(1)).await.unwrap();
        assert!(log.flush().await.is_err());
        let err = log.append(event(2)).await.unwrap_err();
        assert!(matches!(&err, AuditError::Unwritable(_)), "{err}");
        assert!(err.to_string().contains("audit.head.tmp"), "{err}");
        assert!(log.append(event(2)).await.is_err());
        assert!(log.stats().failures >= 2);

        fs::remove_dir(&blocker).unwrap();
        log.append(event(2)).await.unwrap();
        assert_eq!(log.close().await.unwrap().seq, 3, "{sync:?}");
        assert_eq!(verified(dir, None).seq, 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_rotation_fails_closed_until_it_works() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut c = config(dir, SyncMode::Always);
    c.max_file_bytes = 1_000;
    let log = AuditLog::open(c).unwrap();
    // The name the first file will be rotated to is taken.
    let blocker = dir.join(rotated_name(1));
    fs::create_dir(&blocker).unwrap();
    let mut refused = 0;
    let mut written = 0;
    for i in 0..10 {
        match log.append(event(i)).await {
            Ok(()) => written += 1,
            Err(e) => {
                assert!(e.to_string().contains("already exists"), "{e}");
                refused += 1;
            }
        }
    }
    assert!(refused > 0 && written > 0, "{written} {refused}");
    fs::remove_dir(&blocker).unwrap();
    for i in 0..10 {
        log.append(event(i)).await.unwrap();
    }
    let head = log.close().await.unwrap();
    assert_eq!(head.seq, written + 10);
    assert_eq!(verified(dir, None), head);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trail_replaced_underneath_stays_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let log = AuditLog::open(config(&dir, SyncMode::Always)).unwrap();
    log.append(event(0)).await.unwrap();
    fs::rename(&dir, tmp.path().join("moved")).unwrap();
    fs::write(&dir, "a file where the directory was").unwrap();
    let err = log.append(event(1)).await.unwrap_err();
    assert!(err.to_string().contains("removed, replaced"), "{err}");
    // Even with the path usable again, the records since the move are not on it: stay closed.
    fs::remove_file(&dir).unwrap();
    assert!(log.append(event(2)).await.is_err());
    assert!(log.flush().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interval_mode_a_trail_replaced_underneath_is_noticed_by_the_next_fsync() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("audit");
    let mut c = config(&dir, SyncMode::Interval);
    c.sync_interval = std::time::Duration::from_millis(20);
    let log = AuditLog::open(c).unwrap();
    log.append(event(0)).await.unwrap();
    log.flush().await.unwrap();
    fs::rename(&dir, tmp.path().join("moved")).unwrap();
    fs::write(&dir, "a file where the directory was").unwrap();
    // Records are chained at once; the next fsync finds the path changed, and from then on
    // every record is refused.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let err = loop {
        match log.append(event(1)).await {
            Ok(()) => assert!(std::time::Instant::now() < deadline, "never refused"),
            Err(e) => break e,
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    };
    assert!(err.to_string().contains("removed, replaced"), "{err}");
    fs::remove_file(&dir).unwrap();
    assert!(log.append(event(2)).await.is_err());
    assert!(log.append_detached(event(3)).is_err());
    assert!(log.flush().await.is_err());
}

#[test]
fn sync_modes_parse() {
    assert_eq!("always".parse::<SyncMode>(), Ok(SyncMode::Always));
    assert_eq!("interval".parse::<SyncMode>(), Ok(SyncMode::Interval));
    assert!("sometimes".parse::<SyncMode>().is_err());
    assert_eq!(SyncMode::default(), SyncMode::Interval);
}

#[test]
fn last_lines_skips_torn_tails_and_spans_chunks() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("f");
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!("line {i}\n"));
    }
    text.push_str("torn");
    fs::write(&path, &text).unwrap();
    let (lines, end) = last_lines(&path, 3, 100).unwrap();
    assert_eq!(
        lines,
        [
            b"line 19997".to_vec(),
            b"line 19998".to_vec(),
            b"line 19999".to_vec()
        ]
    );
    assert_eq!(end, text.len() as u64 - 4);
    let (all, _) = last_lines(&path, 50_000, 100).unwrap();
    assert_eq!(all.len(), 20_000);
    let (none, _) = last_lines(&path, 0, 100).unwrap();
    assert!(none.is_empty());
    // Lines longer than the cap are left out.
    fs::write(&path, format!("a\n{}\nb\n", "x".repeat(1000))).unwrap();
    let (lines, _) = last_lines(&path, 3, 100).unwrap();
    assert_eq!(lines, [b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn read_line_caps_without_reading_a_line_whole() {
    let data = format!("short\n{}\ntail", "y".repeat(50));
    let mut r = std::io::BufReader::with_capacity(8, data.as_bytes());
    let mut buf = Vec::new();
    assert_eq!(
        read_line(&mut r, &mut buf, 10).unwrap(),
        Some((6, LineEnd::Newline))
    );
    assert_eq!(buf, b"short");
    assert_eq!(
        read_line(&mut r, &mut buf, 10).unwrap(),
        Some((51, LineEnd::TooLong { len: 50 }))
    );
    assert_eq!(buf.len(), 10);
    assert_eq!(
        read_line(&mut r, &mut buf, 10).unwrap(),
        Some((4, LineEnd::Eof))
    );
    assert_eq!(buf, b"tail");
    assert_eq!(read_line(&mut r, &mut buf, 10).unwrap(), None);
}

#[test]
fn follower_reads_appends_and_follows_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join(TRAIL_FILE);
    let mut f = fs::File::create(&path).unwrap();
    use std::io::Write;
    f.write_all(b"old 1\n").unwrap();
    let mut follower = Follower::new(&path, 6);
    assert!(follower.poll().unwrap().is_empty());
    f.write_all(b"old 2\nold 3 part").unwrap();
    assert_eq!(follower.poll().unwrap(), [b"old 2".to_vec()]);
    f.write_all(b"ial\n").unwrap();
    // Rotated: the rest of the old file comes first, then the new one.
    fs::rename(&path, tmp.path().join(rotated_name(1))).unwrap();
    fs::write(&path, "new 1\n").unwrap();
    assert_eq!(follower.poll().unwrap(), [b"old 3 partial".to_vec()]);
    assert_eq!(follower.poll().unwrap(), [b"new 1".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_writer_on_the_same_trail_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let first = AuditLog::open(config(tmp.path(), SyncMode::Interval)).unwrap();
    first.append(event(0)).await.unwrap();
    let second = AuditLog::open(config(tmp.path(), SyncMode::Interval));
    assert!(
        matches!(second, Err(AuditError::Locked { .. })),
        "{second:?}"
    );
    first.close().await.unwrap();
    // Released with the first writer: the trail goes on.
    let again = AuditLog::open(config(tmp.path(), SyncMode::Interval)).unwrap();
    again.append(event(1)).await.unwrap();
    again.close().await.unwrap();
    assert_eq!(verified(tmp.path(), None).seq, 2);
}
