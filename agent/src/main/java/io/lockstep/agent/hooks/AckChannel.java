package io.lockstep.agent.hooks;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The files through which a signal hook talks with its program: {@code <hooks dir>/<group>/<ack id>/},
 * owned by the program's uid/gid (0700). Before each signal the agent writes {@code request}
 * (shell assignments: LOCKSTEP_HOOK, LOCKSTEP_CHECKPOINT, LOCKSTEP_PID, LOCKSTEP_GROUP, and after
 * the thaw LOCKSTEP_OUTCOME) and removes {@code ack}; the program, when ready, writes the checkpoint
 * id to {@code ack}. The program owns the directory, so the agent (root) never follows a link in it:
 * the request is renamed into place, and the acknowledgement is read only when it is a small regular file.
 */
public final class AckChannel {
    public static final String REQUEST_VARIABLE = "LOCKSTEP_HOOK_REQUEST";
    public static final String ACK_VARIABLE = "LOCKSTEP_HOOK_ACK";
    private static final Pattern ID = Pattern.compile("[0-9a-f]{16}");
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final int MAX_ACK_BYTES = 256;

    private final Path dir;

    private AckChannel(Path dir) {
        this.dir = dir;
    }

    /** A fresh id for a program's channel (16 hex digits). */
    public static String newId() {
        byte[] bytes = new byte[8];
        RANDOM.nextBytes(bytes);
        return HexFormat.of().formatHex(bytes);
    }

    /**
     * @param group a checked group name (ZkLayout.checkName)
     * @throws IOException when {@code ackId} is not 16 hex digits (a manifest is untrusted input)
     */
    public static AckChannel of(Path hooksDir, String group, String ackId) throws IOException {
        if (!ID.matcher(ackId).matches()) {
            throw new IOException("hook acknowledgement id " + ackId + " is not 16 hex digits");
        }
        return new AckChannel(hooksDir.resolve(group).resolve(ackId));
    }

    public Path request() {
        return dir.resolve("request");
    }

    public Path ack() {
        return dir.resolve("ack");
    }

    /** The variables the program finds in its environment. */
    public Map<String, String> environment() {
        return Map.of(REQUEST_VARIABLE, request().toString(), ACK_VARIABLE, ack().toString());
    }

    /** Creates the directories: the hooks and group directories root's and traversable (0711), the channel the program's (0700). */
    public void prepare(int uid, int gid) throws IOException {
        for (Path parent : new Path[] {dir.getParent().getParent(), dir.getParent()}) {
            if (!Files.isDirectory(parent, LinkOption.NOFOLLOW_LINKS)) {
                try {
                    Files.createDirectories(parent);
                } catch (FileAlreadyExistsException e) {
                    throw new IOException("hook directory " + parent + " exists and is not a directory", e);
                }
            }
            Files.setPosixFilePermissions(parent, PosixFilePermissions.fromString("rwx--x--x"));
        }
        if (!Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)) {
            Files.createDirectory(dir);
        }
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx------"));
        chown(dir, uid, gid);
    }

    /** Replaces the request (atomically) and removes an old acknowledgement. */
    public void post(Map<String, String> variables, int uid, int gid) throws IOException {
        StringBuilder text = new StringBuilder();
        variables.forEach((name, value) -> text.append(name).append("='").append(value.replace("'", "'\\''")).append("'\n"));
        Path staged = dir.resolve(".request-" + newId());
        // CREATE_NEW never follows a link the program may have put there.
        Files.write(staged, text.toString().getBytes(StandardCharsets.UTF_8), StandardOpenOption.CREATE_NEW,
                StandardOpenOption.WRITE);
        try {
            chown(staged, uid, gid);
            Files.move(staged, request(), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(staged);
        }
        Files.deleteIfExists(ack());
    }

    /** Whether the program wrote {@code checkpointId} to its acknowledgement file. */
    public boolean acknowledged(String checkpointId) throws IOException {
        BasicFileAttributes attributes;
        try {
            attributes = Files.readAttributes(ack(), BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (java.nio.file.NoSuchFileException e) {
            return false;
        }
        if (!attributes.isRegularFile() || attributes.size() > MAX_ACK_BYTES) {
            return false;
        }
        return new String(Files.readAllBytes(ack()), StandardCharsets.UTF_8).trim().equals(checkpointId);
    }

    private static void chown(Path path, int uid, int gid) throws IOException {
        Files.setAttribute(path, "unix:uid", uid, LinkOption.NOFOLLOW_LINKS);
        Files.setAttribute(path, "unix:gid", gid, LinkOption.NOFOLLOW_LINKS);
    }

    @Override
    public String toString() {
        return dir.toString();
    }
}
