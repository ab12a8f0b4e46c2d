package io.lockstep.bench.report;

import io.lockstep.bench.BenchConfig;
import io.lockstep.bench.Result;
import io.lockstep.bench.harness.ResultsFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The renderer reads what the bench writes, judges the targets on it, and refuses a bad file without harm. */
class BenchmarksRendererTest {
    @TempDir
    Path dir;

    @Test
    void rendersTargetsScalingCountsAndPlotFromAResultsFile() throws Exception {
        Path results = dir.resolve("results/latest.json");
        List<Result> figures = new ArrayList<>(List.of(
                Result.of("freeze", "10-threads", "freeze-median", 0.3, "ms", 0.25, "21 freezes"),
                Result.of("capture", "1k-locks-1000-files", "capture-median", 90, "ms", 30, "5 runs"),
                Result.of("restore", "1000 locks on 1000 files", "prepare-median", 9, "ms", 6, "3 runs"),
                Result.of("restore", "100000 locks on 1000 files", "prepare-median", 4000, "ms", 3900, "2 runs"),
                Result.of("restore", "10 processes", "restore-median", 5000, "ms", 80, "1 run"),
                Result.of("restore", "stage of 1 process", "stage-median", 4, "ms", 1, "21 runs"),
                // 3 × 100 ms + 10 ms: met just inside the slack
                Result.of("capture-scaling", "processes-1000", "frozen-window-median", 309, "ms", 100, "3 runs"),
                Result.failure("restore", "100 processes", new IllegalStateException("skipped: budget")),
                Result.of("snapshot", "btrfs 1 GiB", "window-added-median", 4, "ms", 3.5, "15 snapshots"),
                Result.of("snapshot", "reflink 1000 files", "per-file-median", 0.2, "ms", 0.05, "15 snapshots"),
                Result.of("snapshot", "copy 1 GiB", "copy-rate-median", 300, "MB/s", 500, "3 snapshots")));
        for (int agents : new int[] {4, 64, 256}) {
            String c = agents + " agents";
            figures.add(Result.of("checkpoint", c, "checkpoint-latency-median", 100 + agents, "ms", 5,
                    "3 runs; phase medians: freeze 1ms"));
            figures.add(Result.of("checkpoint", c, "frozen-window-median", agents == 4 ? 50 : 90, "ms", 5, "3 runs"));
            figures.add(Result.of("barrier", c, "barrier-median", 4, "ms", 8, "Curator"));
            figures.add(Result.of("checkpoint", c, "zk-writes-per-checkpoint", 7 + 4 * agents, "requests", 0, "counted"));
            figures.add(Result.of("checkpoint", c, "zk-reads-per-checkpoint", 14 + 9 * agents, "requests", 0, "counted"));
            figures.add(Result.of("checkpoint", c, "rpcs-per-checkpoint", 4 * agents, "calls", 0,
                    "counted; coordinator to agents: {Capture=" + agents + "}"));
        }
        ResultsFile.write(results, new BenchConfig(false, results, Set.of(), List.of(), Instant.MAX),
                Instant.parse("2026-11-25T12:00:00Z"), 600, List.of(new ResultsFile.SuiteRun("checkpoint", 250, 300)),
                figures, List.of("restore 100 processes: skipped: budget"));
        Path page = dir.resolve("BENCHMARKS.md");
        Path plot = dir.resolve("results/scaling.png");

        BenchmarksRenderer.render(results, page, plot);

        String md = Files.readString(page);
        assertThat(md).contains("a full run", "checkpoint 250 s (300 s)", "restore 100 processes: skipped: budget")
                .contains("| freeze ≤ 1.5× raw cgroup freeze | 10-threads | 0.30 ms | 0.25 ms | 1.20× | **met** |")
                .contains("| capture ≤ 2× reading /proc | 1k-locks-1000-files | 90.0 ms | 30.0 ms | 3.00× | not met |")
                .contains("| frozen window at 64 agents ≤ 2× window at 4 | 64 vs 4 agents | 90.0 ms | 50.0 ms | 1.80× | **met** |")
                .contains("| restore of N processes ≤ 3× plain start | 10 processes | 5000 ms | 80.0 ms | 63× | not met |")
                .contains("| stage of one process ≤ 10 ms | stage of 1 process | 4.00 ms | 10.0 ms | 0.40× | **met** |")
                .contains("| frozen window of one agent at 1000 processes ≤ 3× its floors + 10 ms | processes-1000"
                        + " | 309 ms | 100 ms | 3.09× | **met** |")
                .contains("| btrfs snapshot adds ≤ 20 ms to the window | btrfs 1 GiB | 4.00 ms | 20.0 ms | 0.20× | **met** |")
                .contains("| reflink adds ≤ 0.1 ms per file | reflink 1000 files | 0.20 ms | 0.10 ms | 2.00× | not met |")
                .contains("| copy ≥ 50% of the disk's sequential write rate | copy 1 GiB | 300 MB/s | 500 MB/s | 0.60× | **met** |")
                .contains("11 of 18 target checks met")
                .contains("| checkpoint latency ≤ 50 ms at 4 agents | 4 agents | 104 ms | 50.0 ms | 2.08× | not met |")
                // the fixture has no capture-scaling figures
                .contains("Not judged in this run (no figures): capture of 200+ processes or 2000 threads ≤ 2× reading their /proc;"
                        + " first checkpoint's window ≤ 2× the warm median.")
                .contains("| 256 | 356 ms | 90.0 ms | 5.00 ms | 18× | 1031 | 2318 | 1024 |")
                .contains("| 256 | 4.00 ms | 8.00 ms | 0.50× | Curator |")
                // latency is 100 ms + 1 ms per agent exactly: the fit finds it, with no error at any point
                .contains("| 64 | 164 ms | 164 ms | +0% |", "Latency ≈ 100 ms + 1.00 ms × agents",
                        "a latency of about **1.1 s**")
                // writes are 4 per host + 7 exactly
                .contains("| ZooKeeper writes | 4.00 | 7 | +0% | 4007 |")
                .contains("What the projection leaves out")
                .contains("](results/scaling.png)", "`results/latest.json`");
        BufferedImage image = ImageIO.read(plot.toFile());
        assertThat(image).as("a PNG ImageIO can read").isNotNull();
        assertThat(image.getWidth()).isGreaterThan(image.getHeight());
    }

    @Test
    void aRunWithoutSomeFiguresSaysWhichTargetsItCouldNotJudge() throws Exception {
        Path results = dir.resolve("quick.json");
        ResultsFile.write(results, new BenchConfig(true, results, Set.of("freeze"), List.of(), Instant.MAX),
                Instant.parse("2026-11-25T12:00:00Z"), 10, List.of(),
                List.of(Result.of("freeze", "10-threads", "freeze-median", 0.9, "ms", 0.3, "21 freezes")), List.of());

        BenchmarksRenderer.render(results, dir.resolve("BENCHMARKS.md"), dir.resolve("scaling.png"));

        assertThat(Files.readString(dir.resolve("BENCHMARKS.md"))).contains("a **quick** run", "0 of 1 target checks met")
                .contains("Not judged in this run (no figures): capture ≤ 2× reading /proc;"
                        + " capture of 200+ processes or 2000 threads ≤ 2× reading their /proc;"
                        + " frozen window of one agent at 1000 processes ≤ 3× its floors + 10 ms; prepare ≤ 2× raw fcntl;"
                        + " frozen window at 64 agents ≤ 2× window at 4;"
                        + " frozen window ≤ 3× the slowest host's freeze + capture + thaw + 10 ms;"
                        + " first checkpoint's window ≤ 2× the warm median; checkpoint latency ≤ 50 ms at 4 agents;"
                        + " barrier ≤ Curator's DistributedDoubleBarrier;"
                        + " restore of N processes ≤ 3× plain start; stage of one process ≤ 10 ms;"
                        + " btrfs snapshot adds ≤ 20 ms to the window; reflink adds ≤ 0.1 ms per file;"
                        + " copy ≥ 50% of the disk's sequential write rate.");
        assertThat(ImageIO.read(dir.resolve("scaling.png").toFile())).as("a plot even without scaling figures").isNotNull();
    }

    @Test
    void aMalformedResultsFileFailsNamingFileAndPlaceAndLeavesThePageAlone() throws Exception {
        Path page = Files.writeString(dir.resolve("BENCHMARKS.md"), "the previous page\n");
        Path plot = dir.resolve("scaling.png");
        Path truncated = Files.writeString(dir.resolve("truncated.json"), "{\"started\": \"x\", \"results\": [");
        Path noValue = Files.writeString(dir.resolve("novalue.json"), "{\"started\": \"x\", \"quick\": true,"
                + " \"host\": {\"kernel\": \"k\", \"cores\": 2, \"java\": \"17\"}, \"results\": ["
                + "{\"suite\": \"freeze\", \"case\": \"c\", \"metric\": \"m\", \"value\": 1, \"unit\": \"ms\","
                + " \"floor\": null, \"ratio\": null, \"notes\": \"\"},"
                + "{\"suite\": \"freeze\", \"case\": \"c\", \"metric\": \"m\", \"unit\": \"ms\"}], \"failures\": []}");

        assertThatThrownBy(() -> BenchmarksRenderer.render(truncated, page, plot)).isInstanceOf(IOException.class)
                .hasMessageContaining(truncated.toString()).hasMessageContaining("at offset 29");
        assertThatThrownBy(() -> BenchmarksRenderer.render(noValue, page, plot)).isInstanceOf(IOException.class)
                .hasMessageContaining(noValue.toString()).hasMessageContaining("results[1] has no 'value'");
        assertThatThrownBy(() -> BenchmarksRenderer.render(dir.resolve("absent.json"), page, plot))
                .isInstanceOf(IOException.class).hasMessageContaining("absent.json: no such results file");
        assertThat(Files.readString(page)).isEqualTo("the previous page\n");
        assertThat(plot).doesNotExist();
    }
}
