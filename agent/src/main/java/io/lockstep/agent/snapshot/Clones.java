package io.lockstep.agent.snapshot;

import io.lockstep.agent.nativeio.LibC;
import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import java.nio.file.Path;

/** Reflinks: a new file sharing another's extents, copy-on-write, on the same file system. */
final class Clones {
    private Clones() {
    }

    /** Creates {@code target} (which must not exist) as a clone of {@code source}. */
    static void cloneFile(Path source, Path target) throws NativeException {
        int in = Native.open(source.toString(), LibC.O_RDONLY | LibC.O_CLOEXEC | LibC.O_NOFOLLOW, 0);
        try {
            int out = Native.open(target.toString(),
                    LibC.O_WRONLY | LibC.O_CREAT | LibC.O_EXCL | LibC.O_CLOEXEC | LibC.O_NOFOLLOW, 0600);
            try {
                Native.ficlone(out, in, source + " -> " + target);
            } catch (NativeException e) {
                try {
                    java.nio.file.Files.deleteIfExists(target);
                } catch (java.io.IOException left) {
                    e.addSuppressed(left);
                }
                throw e;
            } finally {
                Native.close(out);
            }
        } finally {
            Native.close(in);
        }
    }

    /**
     * As {@link #cloneFile}, but a {@code target} that exists already (another host created it first on the
     * shared file system) is not an error: returns whether this call created it.
     */
    static boolean cloneFileUnlessPresent(Path source, Path target) throws NativeException {
        try {
            cloneFile(source, target);
            return true;
        } catch (NativeException e) {
            if (e.errno() == LibC.EEXIST) {
                return false;
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
