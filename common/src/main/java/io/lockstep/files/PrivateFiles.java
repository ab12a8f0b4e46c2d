package io.lockstep.files;

import jnr.ffi.LibraryLoader;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * Owner-only files (0600) and directories (0700) for everything the agent and the coordinator
 * write: restart specs and manifests hold environments, logs hold the applications' output, the
 * embedded ZooKeeper's data holds the catalog. Each is created with its mode (never chmod after,
 * which leaves a window), and the daemons also set umask 077 so that files made by libraries
 * (ZooKeeper's snapshots, logback's files) are owner-only too.
 */
public final class PrivateFiles {
    public static final Set<PosixFilePermission> FILE_MODE = PosixFilePermissions.fromString("rw-------");
    public static final Set<PosixFilePermission> DIRECTORY_MODE = PosixFilePermissions.fromString("rwx------");
    /** The permission bits, besides the owner's, that a private file or directory never has. */
    public static final Set<PosixFilePermission> OTHERS = EnumSet.of(PosixFilePermission.GROUP_READ,
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ,
            PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);
    private static final int OWNER_ONLY_UMASK = 0077;

    /** umask(2) cannot fail: it has no errno to read. */
    public interface LibC {
        int umask(int mask);
    }

    private static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    /** The umask this process had before {@link #restrictUmask}; what the applications it starts get back. */
    private static volatile int inheritedUmask = -1;

    private PrivateFiles() {
    }

    public static FileAttribute<Set<PosixFilePermission>> fileMode() {
        return PosixFilePermissions.asFileAttribute(FILE_MODE);
    }

    public static FileAttribute<Set<PosixFilePermission>> directoryMode() {
        return PosixFilePermissions.asFileAttribute(DIRECTORY_MODE);
    }

    /**
     * Sets this process's umask to 077 (idempotent). A daemon calls it first thing: the umask of
     * whoever started it may be 000.
     */
    public static synchronized void restrictUmask() {
        int previous = LIBC.umask(OWNER_ONLY_UMASK);
        if (inheritedUmask < 0) {
            inheritedUmask = previous;
        }
    }

    /** The umask before {@link #restrictUmask}, or the current one if it was never restricted. */
    public static synchronized int inheritedUmask() {
        if (inheritedUmask >= 0) {
            return inheritedUmask;
        }
        int current = LIBC.umask(OWNER_ONLY_UMASK);
        LIBC.umask(current);
        return current;
    }

    /**
     * A command prefix ({@code sh -c 'umask NNN && exec "$0" "$@"'}) that gives a child the umask
     * this process inherited: applications keep the file modes they had before the daemon
     * restricted its own.
     */
    public static List<String> inheritedUmaskPrefix() {
        return List.of("/bin/sh", "-c", String.format("umask %04o && exec \"$0\" \"$@\"", inheritedUmask()));
    }

    /** Creates the directory and its missing parents, each 0700; existing ones are left alone. */
    public static Path createDirectories(Path dir) throws IOException {
        return Files.createDirectories(dir, directoryMode());
    }

    /**
     * A directory this process owns (a state directory): created 0700, or, when it exists with
     * permissions for others, narrowed to 0700.
     */
    public static Path ownDirectory(Path dir) throws IOException {
        createDirectories(dir);
        Set<PosixFilePermission> mode = Files.getPosixFilePermissions(dir);
        if (mode.stream().anyMatch(OTHERS::contains)) {
            Files.setPosixFilePermissions(dir, DIRECTORY_MODE);
        }
        return dir;
    }

    /** Creates an empty 0600 file unless it exists (a log that child processes append to). */
    public static Path createFileIfAbsent(Path file) throws IOException {
        try {
            return Files.createFile(file, fileMode());
        } catch (FileAlreadyExistsException e) {
            return file;
        }
    }

    /** Opens a new 0600 file for writing; an existing one is replaced first (its old mode must not survive). */
    public static FileChannel createForWrite(Path file) throws IOException {
        Files.deleteIfExists(file);
        return FileChannel.open(file, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), fileMode());
    }

    /**
     * Writes {@code data} to {@code target} through a 0600 temporary file in the same directory and
     * an atomic rename, optionally fsync'ed: readers see the old content or the new, never a part.
     */
    public static void writeAtomically(Path target, byte[] data, boolean fsync) throws IOException {
        Path temp = target.resolveSibling("." + target.getFileName() + ".tmp");
        try (FileChannel out = createForWrite(temp)) {
            ByteBuffer buffer = ByteBuffer.wrap(data);
            while (buffer.hasRemaining()) {
                out.write(buffer);
            }
            if (fsync) {
                out.force(true);
            }
        } catch (IOException e) {
            Files.deleteIfExists(temp);
            throw e;
        }
        Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Octal form of a permission set, e.g. "0644", for messages. */
    public static String octal(Set<PosixFilePermission> mode) {
        int bits = 0;
        for (PosixFilePermission p : mode) {
            bits |= 1 << (8 - p.ordinal());
        }
        return String.format("%04o", bits);
    }
}
