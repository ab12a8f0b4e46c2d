package io.lockstep.agent.restore;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
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
    private static final Set<PosixFilePermission> WRITABLE_BY_OTHERS = Set.of(PosixFilePermission.GROUP_WRITE,
            PosixFilePermission.OTHERS_WRITE);

    private EnvFile() {
    }

    /** The file's variables, in file order; a name given twice keeps its last value. */
    public static Map<String, String> read(Path file, int uid) throws IOException {
        if (!file.isAbsolute()) {
            throw new IOException("env file " + file + ": not an absolute path");
        }
        Map<String, Object> attributes;
        try {
            attributes = Files.readAttributes(file, "unix:uid,size,isRegularFile", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            throw new IOException("env file " + file + ": no such file");
        }
        if (!(Boolean) attributes.get("isRegularFile")) {
            throw new IOException("env file " + file + ": not a regular file (symbolic links are not followed)");
        }
        int owner = (Integer) attributes.get("uid");
        if (owner != uid) {
            throw new IOException("env file " + file + ": owned by uid " + owner + ", not by the process's uid "
                    + Integer.toUnsignedString(uid));
        }
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(file, LinkOption.NOFOLLOW_LINKS);
        if (mode.stream().anyMatch(WRITABLE_BY_OTHERS::contains)) {
            throw new IOException("env file " + file + ": writable by group or others; make it writable by its owner only");
        }
        if ((Long) attributes.get("size") > MAX_BYTES) {
            throw new IOException("env file " + file + ": larger than " + MAX_BYTES + " bytes");
        }
        byte[] bytes;
        try (InputStream in = Channels.newInputStream(Files.newByteChannel(file, Set.of(StandardOpenOption.READ,
                LinkOption.NOFOLLOW_LINKS)))) {
            bytes = in.readNBytes((int) MAX_BYTES + 1);
        }
        if (bytes.length > MAX_BYTES) {
            throw new IOException("env file " + file + ": larger than " + MAX_BYTES + " bytes");
        }
        return parse(file, bytes);
    }

    static Map<String, String> parse(Path file, byte[] bytes) throws IOException {
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
