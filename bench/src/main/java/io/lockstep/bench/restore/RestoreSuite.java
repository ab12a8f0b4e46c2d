package io.lockstep.bench.restore;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.restore.PrepareOutcome;
import io.lockstep.agent.restore.StubHandle;
import io.lockstep.agent.restore.StubBinary;
import io.lockstep.agent.restore.StubLauncher;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.harness.Samples;
import io.lockstep.proto.FdKind;
import io.lockstep.proto.LockKind;
import io.lockstep.proto.LockRecord;
import io.lockstep.proto.LockType;
import io.lockstep.proto.StubFd;
import io.lockstep.proto.StubPlan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;

/**
 * Restore costs on one host: (a) the prepare phase — one stub taking 1k, 10k and 100k locks on 1k
 * files, and 10k locks on one file, non-blocking, in global order — against a single
 * process taking the same locks with raw fcntl; (b) restoring N processes (stage N stubs, release
 * them into their program) against starting the same N programs plainly.
 */
public final class RestoreSuite implements BenchSuite {
    private static final int FIRST_FD = 100;
    /** Locks and the files they are spread over: the scaling in lock count, and the one-file worst case. */
    private static final int[][] PREPARE_CASES = {{1_000, 1_000}, {10_000, 1_000}, {100_000, 1_000}, {10_000, 1}};
    static final String STAGE_CASE = "stage of 1 process";
    /** Warm-up stagings before the timed ones: the first pays for class loading in this JVM. */
    private static final int STAGE_WARM_UP = 3;

    @Override
    public String name() {
        return "restore";
    }

    @Override
    public Duration budget() {
        return Duration.ofMinutes(3);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        Path dir = Files.createTempDirectory("lockstep-bench-restore-");
        try {
            results.add(config.fits(Duration.ZERO) ? stage(dir, config.runs(21, 7)) : skipped(STAGE_CASE));
            Duration perProcess = Duration.ZERO;
            for (int n : config.quick() ? List.of(1, 10) : List.of(1, 10, 100, 1000)) {
                int runs = config.quick() || n >= 100 ? 1 : 3;
                // stubs start about linearly in N: estimate from the last case, per process and run
                if (!config.fits(perProcess.multipliedBy((long) n * runs))) {
                    results.add(skipped(n + " processes"));
                    continue;
                }
                long t = System.nanoTime();
                results.add(processes(dir, n, runs));
                perProcess = Duration.ofNanos((System.nanoTime() - t) / ((long) n * runs));
            }
            // last: on a loaded host the 100k-lock and one-file cases alone can take the whole budget
            for (int[] locksAndFiles : PREPARE_CASES) {
                String caseName = locksAndFiles[0] + " locks on " + locksAndFiles[1] + " files";
                // a run at 100k locks takes seconds (the kernel's lock lists grow per file): fewer runs
                int runs = locksAndFiles[0] > 10_000 ? config.runs(3, 2) : config.runs(5, 3);
                results.add(config.fits(Duration.ZERO) ? prepare(dir, locksAndFiles[0], locksAndFiles[1], runs)
                        : skipped(caseName));
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private Result skipped(String caseName) {
        return Result.failure(name(), caseName, new IllegalStateException("skipped: it would not finish within the"
                + " suite's time budget"));
    }

    private static StubLauncher launcher(Path dir) throws IOException {
        return new StubLauncher(StubBinary.installed(dir), dir.resolve("sockets"), List.of(), Optional.empty(),
                dir.resolve("logs"));
    }

    private static StubPlan.Builder plan(int oldPid, List<String> argv) {
        return StubPlan.newBuilder().setOldPid(oldPid).setCwd("/").setUid(0).setGid(0).setAllowRoot(true)
                .addAllArgv(argv).setCheckpointId("bench");
    }

    private Result prepare(Path dir, int locks, int files, int runs) throws Exception {
        Path lockDir = Files.createDirectories(dir.resolve("locks-" + locks + "-" + files));
        List<Path> paths = new ArrayList<>();
        for (int f = 0; f < files; f++) {
            paths.add(Files.createFile(lockDir.resolve("f" + f)));
        }
        List<LockRecord> records = new ArrayList<>();
        for (int i = 0; i < locks; i++) {
            int file = i % files;
            long start = 2L * (i / files); // one byte every other byte: no two locks merge
            records.add(LockRecord.newBuilder().setKind(LockKind.POSIX).setType(LockType.WRITE).setStart(start)
                    .setEnd(start).setFd(FIRST_FD + file).build());
        }
        long[] floor = new long[runs];
        long[] stub = new long[runs];
        for (int r = 0; r < runs; r++) {
            floor[r] = rawFcntl(paths, records);
            StubPlan.Builder plan = plan(1, List.of("/bin/true"));
            for (int f = 0; f < files; f++) {
                plan.addFds(StubFd.newBuilder().setFd(FIRST_FD + f).setKind(FdKind.FD_REGULAR)
                        .setPath(paths.get(f).toString()).setOpenFlags(LibC.O_RDWR));
            }
            Instant deadline = Instant.now().plusSeconds(120);
            try (StubHandle handle = launcher(dir).launch(plan.build(), deadline)) {
                handle.stage(deadline);
                long start = System.nanoTime();
                PrepareOutcome outcome = handle.prepare(records, false, deadline);
                stub[r] = System.nanoTime() - start;
                if (!outcome.prepared()) {
                    throw new IllegalStateException("bench prepare did not take its locks: " + outcome.message());
                }
                handle.release(false, deadline);
            }
        }
        Samples ours = new Samples(stub);
        Samples raw = new Samples(floor);
        return Result.of(name(), locks + " locks on " + files + " files", "prepare-median", ours.medianMillis(), "ms",
                raw.medianMillis(), runs + " runs; floor = one process, raw fcntl(F_SETLK) of the same locks");
    }

    /**
     * Stage of one process: start its stub and have it place its descriptors and report, as the agent's
     * stage phase does per process (launch + stage). Floor: start {@code /bin/true} through the same
     * {@code ProcessBuilder} and wait for its exit, alternating with the stagings.
     */
    private Result stage(Path dir, int runs) throws Exception {
        Path file = Files.writeString(dir.resolve("stage-file"), "staged");
        StubPlan plan = plan(1, List.of("/bin/true")).addFds(StubFd.newBuilder().setFd(FIRST_FD)
                .setKind(FdKind.FD_REGULAR).setPath(file.toString()).setOpenFlags(LibC.O_RDWR)).build();
        StubLauncher launcher = launcher(dir);
        long[] staged = new long[runs];
        long[] plain = new long[runs];
        for (int r = -STAGE_WARM_UP; r < runs; r++) {
            long start = System.nanoTime();
            new ProcessBuilder("/bin/true").start().waitFor();
            long floor = System.nanoTime() - start;
            Instant deadline = Instant.now().plusSeconds(30);
            start = System.nanoTime();
            try (StubHandle handle = launcher.launch(plan, deadline)) {
                handle.stage(deadline);
                long stub = System.nanoTime() - start;
                handle.release(false, deadline);
                if (r >= 0) {
                    staged[r] = stub;
                    plain[r] = floor;
                }
            }
        }
        return Result.of(name(), STAGE_CASE, "stage-median", new Samples(staged).medianMillis(), "ms",
                new Samples(plain).medianMillis(), runs + " runs after " + STAGE_WARM_UP + " warm-up; start the native"
                        + " stub, send its plan, place one file descriptor, read its report; floor = start /bin/true"
                        + " and wait for its exit");
    }

    /** The least any prepare must do: one process opens the files and takes the locks with fcntl. */
    private static long rawFcntl(List<Path> paths, List<LockRecord> records) throws Exception {
        int[] fds = new int[paths.size()];
        for (int f = 0; f < paths.size(); f++) {
            fds[f] = Native.open(paths.get(f).toString(), LibC.O_RDWR, 0);
        }
        try {
            long start = System.nanoTime();
            for (LockRecord lock : records) {
                int fd = fds[lock.getFd() - FIRST_FD];
                Native.fcntlLock(fd, LibC.F_SETLK, new Native.Flock(LibC.F_WRLCK, lock.getStart(), 1, 0), "bench");
            }
            return System.nanoTime() - start;
        } finally {
            for (int fd : fds) {
                Native.close(fd); // drops this process's locks on the file
            }
        }
    }

    private Result processes(Path dir, int n, int runs) throws Exception {
        long[] restored = new long[runs];
        long[] plain = new long[runs];
        List<String> program = List.of("/bin/sleep", "0");
        // As in the agent, the stub binary is located once and the stubs start from a standing pool of 8; small
        // cases get one unmeasured run first (the first pays for class loading in this JVM).
        StubLauncher launcher = launcher(dir);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        int warmUp = n < 100 ? 1 : 0;
        try {
            for (int r = -warmUp; r < runs; r++) {
                long[] times = restoreOnce(launcher, pool, n, program);
                if (r >= 0) {
                    plain[r] = times[0];
                    restored[r] = times[1];
                }
            }
        } finally {
            pool.shutdown();
        }
        return Result.of(name(), n + " processes", "restore-median", new Samples(restored).medianMillis(), "ms",
                new Samples(plain).medianMillis(), runs + " runs" + (warmUp > 0 ? " after " + warmUp + " warm-up" : "")
                        + "; stage + release N native stubs (8 at a time) into /bin/sleep 0, floor = starting N"
                        + " /bin/sleep 0 plainly");
    }

    /** One plain start of N programs, then one restore of them: their times in nanoseconds. */
    private static long[] restoreOnce(StubLauncher launcher, ExecutorService pool, int n, List<String> program)
            throws Exception {
        long[] plainAndRestored = new long[2];
        long start = System.nanoTime();
        List<Process> started = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            started.add(new ProcessBuilder(program).start());
        }
        for (Process p : started) {
            p.waitFor();
        }
        plainAndRestored[0] = System.nanoTime() - start;

        start = System.nanoTime();
        Instant deadline = Instant.now().plusSeconds(300);
        List<Future<StubHandle>> handles = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int oldPid = i + 1;
            handles.add(pool.submit(() -> {
                StubHandle handle = launcher.launch(plan(oldPid, program).build(), deadline);
                handle.stage(deadline);
                return handle;
            }));
        }
        List<Process> programs = new ArrayList<>();
        for (Future<StubHandle> future : handles) {
            StubHandle handle = future.get();
            handle.release(true, deadline);
            programs.add(handle.process());
            handle.close();
        }
        for (Process p : programs) {
            p.waitFor();
        }
        plainAndRestored[1] = System.nanoTime() - start;
        return plainAndRestored;
    }
}
