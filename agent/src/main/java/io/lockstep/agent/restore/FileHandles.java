package io.lockstep.agent.restore;

import io.lockstep.agent.nativeio.Native;
import io.lockstep.agent.nativeio.NativeException;
import java.util.Arrays;
import java.util.Optional;

/** The file handle (name_to_handle_at) of a file on this host; the agent's is the system call. */
@FunctionalInterface
public interface FileHandles {
    FileHandles NATIVE = path -> Optional.ofNullable(Native.nameToHandle(path));

    /** @return empty when the file system gives no handles (EOPNOTSUPP) */
    Optional<Native.FileHandle> of(String path) throws NativeException;

    static boolean same(Native.FileHandle handle, int recordedType, byte[] recordedBytes) {
        return handle.type() == recordedType && Arrays.equals(handle.bytes(), recordedBytes);
    }
}
