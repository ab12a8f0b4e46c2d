package io.lockstep.bench.snapshot;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.snapshot.BtrfsEngine;
import io.lockstep.agent.snapshot.CopyEngine;
import io.lockstep.agent.snapshot.DataPath;
import io.lockstep.agent.snapshot.ReflinkEngine;
import io.lockstep.agent.snapshot.Snapshot;
import io.lockstep.agent.snapshot.SnapshotEngine;
import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.BenchSuite;
import io.lockstep.bench.Result;
import io.lockstep.bench.harness.Samples;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.UUID;

/**
 * What a snapshot adds to the frozen window, per engine, at 10 and 1000 files and at 1 GiB: the time of
 * {@link SnapshotEngine#take}, after warm-up snapshots (an agent's snapshot code is as warm as its checkpoints
 * make it; JMH practice). Floors, measured on the same file system in the same run: reflink against one raw
 * FICLONE per file; btrfs against the raw snapshot ioctl on the same subvolume; copy against a sequential write
 * of the same bytes (with fsync) to the same disk as the store, as a rate. The copy engine's sha256 per file and
 * durability (one fsync of its pack and index, {@link SnapshotEngine#makeDurable}) come after the thaw: shown as
 * their own rate, take + makeDurable, against the same floor.
 */
public final class SnapshotSuite implements BenchSuite {
    private record Layout(String name, int files, int bytesPerFile) {
    }

    private static final List<Layout> LAYOUTS = List.of(new Layout("10 files", 10, 64 << 10),
            new Layout("1000 files", 1000, 16 << 10), new Layout("1 GiB", 16, 64 << 20));

    @Override
    public String name() {
        return "snapshot";
    }

    @Override
    public Duration budget() {
        return Duration.ofSeconds(150);
    }

    @Override
    public void run(BenchConfig config, List<Result> results) throws Exception {
        for (Layout layout : LAYOUTS) {
            // A suite stopped at its hard budget would leave its loop devices mounted: start no case that may not fit.
            if (!config.fits(Duration.ofSeconds(40))) {
                results.add(Result.failure(name(), layout.name(), new IllegalStateException("skipped: budget")));
                continue;
            }
            try (BenchFileSystem xfs = BenchFileSystem.make(3072, "mkfs.xfs", "-q", "-f", "-m", "reflink=1")) {
                Path data = writeData(xfs.root().resolve("data"), layout);
                results.addAll(reflink(config, layout, data));
                results.addAll(copy(config, layout, data, xfs.diskDirectory("store")));
            } catch (IOException e) {
                results.add(Result.failure(name(), layout.name(), e));
            }
            try (BenchFileSystem btrfs = BenchFileSystem.make(3072, "mkfs.btrfs", "-q", "-f")) {
                Path subvolume = btrfs.root().resolve("volume");
                BenchFileSystem.run("btrfs", "subvolume", "create", subvolume.toString());
                Path data = writeData(subvolume.resolve("data"), layout);
                results.add(btrfs(config, layout, subvolume, data));
            } catch (IOException e) {
                results.add(Result.failure(name(), layout.name(), e));
            }
        }
    }

    /** Random bytes, each file's own (its number in its first bytes): the copy engine keeps no file as another's. */
    private static Path writeData(Path data, Layout layout) throws IOException {
        Files.createDirectories(data);
        byte[] bytes = new byte[layout.bytesPerFile()];
        new Random(7).nextBytes(bytes);
        ByteBuffer stamp = ByteBuffer.wrap(bytes);
        for (int i = 0; i < layout.files(); i++) {
            stamp.putLong(0, i);
            Files.write(data.resolve("file-" + i), bytes);
        }
        BenchFileSystem.run("sync");
        return data;
    }

    private int runs(BenchConfig config, Layout layout) {
        return layout.bytesPerFile() > (1 << 20) ? config.runs(3, 2) : config.runs(9, 5);
    }

    private int warmUp(BenchConfig config, Layout layout) {
        return layout.bytesPerFile() > (1 << 20) ? 1 : config.runs(10, 3);
    }

    private List<Result> reflink(BenchConfig config, Layout layout, Path data) throws IOException {
        ReflinkEngine engine = new ReflinkEngine();
        int runs = runs(config, layout);
        int warmUp = warmUp(config, layout);
        for (int i = 0; i < warmUp; i++) {
            engine.delete(engine.take("bench-" + UUID.randomUUID(), DataPath.of(data)));
        }
        long[] take = new long[runs];
        long[] floor = new long[runs];
        Path rawDir = data.resolveSibling("raw-clones");
        for (int i = 0; i < runs; i++) {
            Snapshot snapshot = engine.take("bench-" + UUID.randomUUID(), DataPath.of(data));
            take[i] = snapshot.costNanos();
            engine.delete(snapshot);
            Files.createDirectories(rawDir);
            long t = System.nanoTime();
            for (int f = 0; f < layout.files(); f++) {
                rawClone(data.resolve("file-" + f), rawDir.resolve("file-" + f));
            }
            floor[i] = System.nanoTime() - t;
            for (int f = 0; f < layout.files(); f++) {
                Files.delete(rawDir.resolve("file-" + f));
            }
        }
        Samples taken = new Samples(take);
        Samples raw = new Samples(floor);
        String notes = runs + " snapshots after " + warmUp + " warm-up, " + layout.files() + " files of "
                + layout.bytesPerFile() / 1024 + " KiB on XFS (reflink=1, loop device); floor: one FICLONE per file into"
                + " a fresh file";
        return List.of(
                Result.of(name(), "reflink " + layout.name(), "window-added-median", taken.medianMillis(), "ms",
                        raw.medianMillis(), notes),
                Result.of(name(), "reflink " + layout.name(), "per-file-median", taken.medianMillis() / layout.files(),
                        "ms", raw.medianMillis() / layout.files(), notes));
    }

    private static void rawClone(Path source, Path target) throws IOException {
        int in = Native.open(source.toString(), LibC.O_RDONLY, 0);
        int out = Native.open(target.toString(), LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL, 0600);
        Native.ficlone(out, in, target.toString());
        Native.close(out);
        Native.close(in);
    }

    private Result btrfs(BenchConfig config, Layout layout, Path subvolume, Path data) throws IOException {
        BtrfsEngine engine = new BtrfsEngine();
        int runs = config.runs(9, 5);
        long[] take = new long[runs];
        long[] floor = new long[runs];
        Path rawParent = Files.createDirectories(subvolume.resolveSibling("raw-snapshots"));
        for (int i = 0; i < runs; i++) {
            Snapshot snapshot = engine.take("bench-" + UUID.randomUUID(), DataPath.of(data));
            take[i] = snapshot.costNanos();
            engine.delete(snapshot);
            int dir = Native.open(rawParent.toString(), LibC.O_RDONLY | LibC.O_DIRECTORY, 0);
            int source = Native.open(subvolume.toString(), LibC.O_RDONLY | LibC.O_DIRECTORY, 0);
            long t = System.nanoTime();
            Native.btrfsSnapshotReadOnly(dir, source, "raw-" + i, subvolume.toString());
            floor[i] = System.nanoTime() - t;
            Native.btrfsDestroySubvolume(dir, "raw-" + i, rawParent.resolve("raw-" + i).toString());
            Native.close(source);
            Native.close(dir);
        }
        Samples taken = new Samples(take);
        return Result.of(name(), "btrfs " + layout.name(), "window-added-median", taken.medianMillis(), "ms",
                new Samples(floor).medianMillis(), runs + " read-only subvolume snapshots of a subvolume with "
                        + layout.files() + " files of " + layout.bytesPerFile() / 1024
                        + " KiB (loop device); floor: the snapshot ioctl alone on already open directories");
    }

    /** Copy rate (MB/s) against the disk's sequential write rate into the same directory, both with fsync. */
    private List<Result> copy(BenchConfig config, Layout layout, Path data, Path store) throws IOException {
        CopyEngine engine = new CopyEngine(store, Long.MAX_VALUE);
        int runs = runs(config, layout);
        int warmUp = warmUp(config, layout);
        // Whole snapshots, as a checkpoint takes them: the sha256 after the thaw is as warm as the copy.
        for (int i = 0; i < warmUp; i++) {
            engine.delete(engine.makeDurable(engine.take("bench-" + UUID.randomUUID(), DataPath.of(data))));
        }
        long[] take = new long[runs];
        long[] durable = new long[runs];
        long[] floor = new long[runs];
        long total = (long) layout.files() * layout.bytesPerFile();
        ByteBuffer block = ByteBuffer.allocateDirect(1 << 20);
        new Random(9).ints(block.capacity() / 4).forEach(block::putInt);
        for (int i = 0; i < runs; i++) {
            Native.syncfs(store.toString());
            Snapshot snapshot = engine.take("bench-" + UUID.randomUUID(), DataPath.of(data));
            take[i] = snapshot.costNanos();
            long t0 = System.nanoTime();
            engine.makeDurable(snapshot);
            durable[i] = take[i] + System.nanoTime() - t0;
            engine.delete(snapshot);
            Native.syncfs(store.toString());
            Path sequential = store.resolve("sequential-write");
            long t = System.nanoTime();
            try (FileChannel out = FileChannel.open(sequential, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                for (long written = 0; written < total; ) {
                    block.clear().limit((int) Math.min(block.capacity(), total - written));
                    written += out.write(block);
                }
                out.force(true);
            }
            floor[i] = System.nanoTime() - t;
            Files.delete(sequential);
        }
        double copyRate = total / 1e6 / (new Samples(take).medianMillis() / 1000);
        double durableRate = total / 1e6 / (new Samples(durable).medianMillis() / 1000);
        double diskRate = total / 1e6 / (new Samples(floor).medianMillis() / 1000);
        String notes = runs + " copy snapshots after " + warmUp + " warm-up, " + layout.files() + " files of "
                + layout.bytesPerFile() / 1024 + " KiB, each its own content (sendfile from XFS on a loop device into one"
                + " pack on the disk under /var/tmp); floor: one sequential write of the same bytes with one fsync, same"
                + " directory";
        return List.of(Result.of(name(), "copy " + layout.name(), "copy-rate-median", copyRate, "MB/s", diskRate,
                        notes + "; in the window: no fsync"),
                Result.of(name(), "copy " + layout.name(), "durable-rate-median", durableRate, "MB/s", diskRate,
                        notes + "; take + makeDurable (sha256 per file, one fsync of pack and index, after the thaw)"));
    }
}
