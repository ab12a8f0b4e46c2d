package io.lockstep.agent.snapshot;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import java.nio.file.Path;
import java.util.Optional;
import jnr.ffi.Pointer;

/** Reflinks: a new file sharing another's extents, copy-on-write, on the same file system. */
final class Clones {
    private Clones() {
    }

    /** Creates {@code target} (which must not exist) as a clone of {@code source}. */
    static void cloneFile(Path source, Path target) throws NativeException {
        cloneFile(source.toString(), target.toString(), Native.statxBuffer());
    }

    /**
     * Creates {@code target} (which must not exist) as a clone of {@code source}, both {@link
     * io.lockstep.names.RawNames} paths, and returns the source's size and mode as one statx of its open fd reads
     * them ({@code statx} is a reused {@link Native#statxBuffer}): the window pays five syscalls per file.
     */
    static Native.SizeAndMode cloneFile(String source, String target, Pointer statx) throws NativeException {
        int in = Native.open(source, LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOFOLLOW, 0);
        try {
            int out = Native.open(target, LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC | LibC.O_NOFOLLOW,
                    0600);
            try {
                Native.ficlone(out, in, source + " -> " + target);
            } catch (NativeException e) {
                try {
                    java.nio.file.Files.deleteIfExists(Path.of(target));
                } catch (java.io.IOException left) {
                    e.addSuppressed(left);
                }
                throw e;
            } finally {
                Native.close(out);
            }
            return Native.sizeAndMode(in, statx, source);
        } finally {
            Native.close(in);
        }
    }

    /**
     * As {@link #cloneFile}, but a {@code target} that exists already (another host created it first on the
     * shared file system) is not an error: empty when this call did not create it.
     */
    static Optional<Native.SizeAndMode> cloneFileUnlessPresent(String source, String target, Pointer statx)
            throws NativeException {
        try {
            return Optional.of(cloneFile(source, target, statx));
        } catch (NativeException e) {
            if (e.errno() == LibC.EEXIST) {
                return Optional.empty();
            }
            throw e;
        }
    }

    /** Whether an errno says the file system cannot clone at all (rather than that this clone failed). */
    static boolean unsupported(NativeException e) {
        return e.errno() == LibC.EOPNOTSUPP || e.errno() == LibC.EXDEV || e.errno() == LibC.EINVAL
                || e.errno() == LibC.ENOTTY;
    }
}
