package io.lockstep.agent.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/** Users and groups by name or number, as this host's NSS knows them ({@code getent}). */
final class Accounts {
    /** One passwd entry: the fields `agent run` needs. */
    record User(String name, int uid, int primaryGid) {
    }

    private Accounts() {
    }

    static Optional<User> user(String nameOrUid) throws IOException, InterruptedException {
        return getent("passwd", nameOrUid).map(fields -> new User(fields[0], Integer.parseInt(fields[2]),
                Integer.parseInt(fields[3])));
    }

    /** A group's gid by name or number. */
    static Optional<Integer> group(String nameOrGid) throws IOException, InterruptedException {
        return getent("group", nameOrGid).map(fields -> Integer.parseInt(fields[2]));
    }

    private static Optional<String[]> getent(String database, String key) throws IOException, InterruptedException {
        Process getent = new ProcessBuilder("getent", database, key).redirectErrorStream(true).start();
        String out = new String(getent.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        // 2: no such key; anything else but 0 is a failure of getent itself.
        int exit = getent.waitFor();
        if (exit == 2 || out.isEmpty()) {
            return Optional.empty();
        }
        if (exit != 0) {
            throw new IOException("getent " + database + " " + key + " failed (exit " + exit + "): " + out);
        }
        String[] fields = out.lines().findFirst().orElse("").split(":", -1);
        return fields.length >= 4 ? Optional.of(fields) : Optional.empty();
    }

    static boolean isNumber(String text) {
        return text.matches("\\d{1,10}");
    }
}
