package io.lockstep.bench.report;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Renders BENCHMARKS.md and its scaling plot from a results file. */
public final class BenchmarksRenderer {
    private BenchmarksRenderer() {
    }

    /** Reads {@code results}; writes {@code plot} (PNG) and {@code page}, which links both by relative path. */
    public static void render(Path results, Path page, Path plot) throws IOException {
        RunResults run = RunResults.read(results);
        ScalingPlot.write(run, plot);
        Path dir = page.toAbsolutePath().getParent();
        String markdown = BenchmarksPage.render(run, dir.relativize(results.toAbsolutePath()).toString(),
                dir.relativize(plot.toAbsolutePath()).toString());
        Files.createDirectories(dir);
        Path temp = Files.createTempFile(dir, ".benchmarks", ".md");
        Files.writeString(temp, markdown);
        Files.move(temp, page, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }
}
