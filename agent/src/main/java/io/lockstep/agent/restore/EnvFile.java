package io.lockstep.agent.restore;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.names.RawNames;
import jnr.ffi.Pointer;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * An {@code agent run --env-file}: {@code NAME=VALUE} lines (blank lines and {@code #} comments
 * skipped, no quoting), read by the agent when it starts the process and again when it restores
 * it. The agent is root and reads it for a caller, or for a manifest, so it reads only a file
 * the process's own uid owns: never another user's secrets, nor root's (an agent's ZooKeeper
 * password) for a process that is not root. It must be a regular file (a symbolic link is not
 * followed) writable by its owner only. Messages name the file and the line, never a value.
 */
public final class EnvFile {
    private static final Pattern NAME = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");
    /** Far above any real environment file; stops a mistaken path to a large file. */
    private static final long MAX_BYTES = 1 << 20;
    private static final int WRITABLE_BY_GROUP_OR_OTHERS = 0022;
    private static final int CHUNK = 64 * 1024;

    private EnvFile() {
    }

    /**
     * The file's variables, in file order; a name given twice keeps its last value. {@code file} is
     * a {@link RawNames} string: it is opened on its exact bytes, never through the JVM's charset.
     */
    public static Map<String, String> read(String file, int uid) throws IOException {
        String shown = RawNames.display(file);
        if (!file.startsWith("/")) {
            throw new IOException("env file " + shown + ": not an absolute path");
        }
        Native.Stat stat = Native.lstatIfExists(file)
                .orElseThrow(() -> new IOException("env file " + shown + ": no such file"));
        if (!stat.isRegularFile()) {
            throw new IOException("env file " + shown + ": not a regular file (symbolic links are not followed)");
        }
        if (stat.uid() != uid) {
            throw new IOException("env file " + shown + ": owned by uid " + Integer.toUnsignedString(stat.uid())
                    + ", not by the process's uid " + Integer.toUnsignedString(uid));
        }
        if ((stat.mode() & WRITABLE_BY_GROUP_OR_OTHERS) != 0) {
            throw new IOException("env file " + shown + ": writable by group or others; make it writable by its owner only");
        }
        if (stat.size() > MAX_BYTES) {
            throw new IOException("env file " + shown + ": larger than " + MAX_BYTES + " bytes");
        }
        int fd = Native.open(file, LibC.O_RDONLY | LibC.O_NOFOLLOW | LibC.O_CLOEXEC, 0);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try {
            // The file checked above, not one swapped in since: the owner check must hold for what is read.
            Native.FileId opened = Native.fileId(fd, shown);
            if (opened.dev() != stat.dev() || opened.inode() != stat.inode()) {
                throw new IOException("env file " + shown + ": replaced while being read; try again");
            }
            Pointer buffer = Native.allocate(CHUNK);
            int n;
            while ((n = Native.pread(fd, buffer, CHUNK, bytes.size(), shown)) > 0) {
                byte[] chunk = new byte[n];
                buffer.get(0, chunk, 0, n);
                bytes.write(chunk, 0, n);
                if (bytes.size() > MAX_BYTES) {
                    throw new IOException("env file " + shown + ": larger than " + MAX_BYTES + " bytes");
                }
            }
        } finally {
            Native.close(fd);
        }
        return parse(shown, bytes.toByteArray());
    }

    static Map<String, String> parse(String file, byte[] bytes) throws IOException {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            throw new IOException("env file " + file + ": not UTF-8 text");
        }
        Map<String, String> variables = new LinkedHashMap<>();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].endsWith("\r") ? lines[i].substring(0, lines[i].length() - 1) : lines[i];
            String trimmed = line.strip();
            if (trimmed.isEmpty() || trimmed.startsWith("#")) {
                continue;
            }
            int eq = line.indexOf('=');
            String name = eq < 0 ? "" : line.substring(0, eq).strip();
            if (eq < 0 || !NAME.matcher(name).matches()) {
                // The line may be a secret pasted wrongly: say where, not what.
                throw new IOException("env file " + file + " line " + (i + 1) + ": expected NAME=VALUE with NAME of "
                        + "letters, digits and _");
            }
            String value = line.substring(eq + 1);
            if (value.indexOf('\0') >= 0) {
                throw new IOException("env file " + file + " line " + (i + 1) + ": " + name + " holds a NUL byte");
            }
            variables.put(name, value);
        }
        return variables;
    }
}
