package io.lockstep.agent.snapshot;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * The operator's own snapshot, roll-back and delete commands (ZFS, LVM, a filer's snapshots), run with
 * {@code /bin/sh -c}. Per-file atomicity of a roll-back is the command's; Lockstep reports the digests of
 * the files it left.
 */
public final class CommandEngine implements SnapshotEngine {
    public static final String NAME = "command";
    private static final int OUTPUT_LIMIT = 2000;

    private final Duration timeout;

    public CommandEngine(Duration timeout) {
        this.timeout = timeout;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public Snapshot take(String checkpointId, DataPath dataPath) throws SnapshotException {
        SnapshotCommands commands = dataPath.commands().orElseThrow(() -> new SnapshotRefusedException(
                "command snapshot of " + dataPath.path() + " refused: the data path has no snapshot commands"));
        long started = System.nanoTime();
        run("snapshot", commands.snapshot(), checkpointId, dataPath.path());
        return new Snapshot(checkpointId, NAME, dataPath.path(), Files.isDirectory(dataPath.path()),
                substitute(commands.snapshot(), checkpointId, dataPath.path()), List.of(), 0, 0, System.nanoTime() - started,
                Optional.of(commands));
    }

    @Override
    public RollBackReport rollBack(Snapshot snapshot) throws SnapshotException {
        SnapshotCommands commands = snapshot.commands().orElseThrow();
        try {
            run("roll-back", commands.rollBack(), snapshot.checkpointId(), snapshot.dataPath());
        } catch (SnapshotException e) {
            throw new RollBackException(e.getMessage(), e);
        }
        Map<String, String> digests = new LinkedHashMap<>();
        try {
            for (Map.Entry<String, Path> file : DataFiles.regularFiles(snapshot.dataPath()).entrySet()) {
                digests.put(file.getKey(), DataFiles.sha256(file.getValue()));
            }
        } catch (IOException e) {
            throw new SnapshotException("after the roll-back command, reading " + snapshot.dataPath() + " failed: "
                    + e.getMessage(), e);
        }
        return new RollBackReport(snapshot.dataPath(), digests, List.of());
    }

    @Override
    public void delete(Snapshot snapshot) throws SnapshotException {
        run("delete", snapshot.commands().orElseThrow().delete(), snapshot.checkpointId(), snapshot.dataPath());
    }

    private void run(String what, String template, String checkpointId, Path dataPath) throws SnapshotException {
        String command = substitute(template, checkpointId, dataPath);
        Path outputFile;
        Process process;
        try {
            // A file, not a pipe: a talkative command must not block on a full pipe while we wait for it.
            outputFile = Files.createTempFile("lockstep-snapshot-command", ".out");
            ProcessBuilder builder = new ProcessBuilder("/bin/sh", "-c", command).redirectErrorStream(true)
                    .redirectOutput(outputFile.toFile()).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")));
            builder.environment().put("LOCKSTEP_CHECKPOINT", checkpointId);
            builder.environment().put("LOCKSTEP_DATA_PATH", dataPath.toString());
            process = builder.start();
        } catch (IOException e) {
            throw new SnapshotException(what + " command for " + dataPath + " could not start: " + e.getMessage(), e);
        }
        try (InputStream out = Files.newInputStream(outputFile)) {
            if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                throw new SnapshotException(what + " command for " + dataPath + " did not finish within " + timeout
                        + ": " + command);
            }
            String output = new String(out.readNBytes(OUTPUT_LIMIT), StandardCharsets.UTF_8).strip();
            if (process.exitValue() != 0) {
                throw new SnapshotException(what + " command for " + dataPath + " of checkpoint " + checkpointId
                        + " exited with " + process.exitValue() + ": " + command
                        + (output.isEmpty() ? "" : "; it said: " + output));
            }
        } catch (IOException e) {
            throw new SnapshotException(what + " command for " + dataPath + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new SnapshotException(what + " command for " + dataPath + " was interrupted", e);
        } finally {
            try {
                Files.deleteIfExists(outputFile);
            } catch (IOException ignored) {
                // A temporary file; the system's tmp cleaning has it.
            }
        }
    }

    static String substitute(String template, String checkpointId, Path dataPath) {
        return template.replace("{id}", shellQuote(checkpointId)).replace("{path}", shellQuote(dataPath.toString()));
    }

    private static String shellQuote(String value) {
        return "'" + value.replace("'", "'\\''") + "'";
    }
}
