package io.lockstep.agent.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;

/** Reads and writes of cgroup interface files, with errors that name the file. */
final class CgroupFiles {
    private CgroupFiles() {
    }

    static void write(Path file, String value) throws IOException {
        try {
            // One write(2) per value: cgroup files take one value per write.
            Files.writeString(file, value);
        } catch (IOException e) {
            throw new IOException("cannot write '" + value + "' to " + file + ": " + e.getMessage(), e);
        }
    }

    static String read(Path file) throws IOException {
        try {
            return Files.readString(file).trim();
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /** The ids in cgroup.procs / cgroup.threads / tasks; empty when the cgroup does not exist. */
    static Set<Integer> ids(Path file) throws IOException {
        Set<Integer> ids = new TreeSet<>();
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            return ids;
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        for (String line : text.split("\n")) {
            if (!line.isBlank()) {
                ids.add(Integer.parseInt(line.trim()));
            }
        }
        return ids;
    }

    /** Quotes a string for /bin/sh. */
    static String shellQuote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
