package io.lockstep.agent.proc;

import java.util.ArrayList;
import java.util.List;

/**
 * One line of {@code /proc/<pid>/mountinfo} (see proc(5)):
 * {@code 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue}.
 * Path-like fields are decoded from the kernel's octal escapes.
 */
public record MountInfo(
        int mountId,
        int parentId,
        int major,
        int minor,
        String root,
        String mountPoint,
        String options,
        List<String> optionalFields,
        String fsType,
        String source,
        String superOptions) {

    public MountInfo {
        optionalFields = List.copyOf(optionalFields);
    }

    /** "major:minor" in decimal, as mountinfo and stat(1) print it. */
    public String device() {
        return major + ":" + minor;
    }

    /** The server address an NFS client actually talks to: the {@code addr=} super option, if any. */
    public java.util.Optional<String> serverAddress() {
        for (String option : superOptions.split(",")) {
            if (option.startsWith("addr=") && option.length() > 5) {
                return java.util.Optional.of(option.substring(5));
            }
        }
        return java.util.Optional.empty();
    }

    public boolean isNfs() {
        return fsType.equals("nfs") || fsType.equals("nfs4");
    }

    public static MountInfo parse(String line) {
        String[] f = line.trim().split(" ");
        int separator = -1;
        for (int i = 6; i < f.length; i++) {
            if (f[i].equals("-")) {
                separator = i;
                break;
            }
        }
        if (f.length < 10 || separator < 0 || f.length < separator + 3) {
            throw new IllegalArgumentException("malformed mountinfo line: " + line);
        }
        try {
            String[] dev = f[2].split(":");
            if (dev.length != 2) {
                throw new IllegalArgumentException("malformed major:minor '" + f[2] + "' in mountinfo line: " + line);
            }
            List<String> optional = new ArrayList<>();
            for (int i = 6; i < separator; i++) {
                optional.add(f[i]);
            }
            return new MountInfo(
                    Integer.parseInt(f[0]),
                    Integer.parseInt(f[1]),
                    Integer.parseInt(dev[0]),
                    Integer.parseInt(dev[1]),
                    unescape(f[3]),
                    unescape(f[4]),
                    f[5],
                    optional,
                    unescape(f[separator + 1]),
                    unescape(f[separator + 2]),
                    separator + 3 < f.length ? f[separator + 3] : "");
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("malformed number in mountinfo line: " + line, e);
        }
    }

    /** The kernel escapes space, tab, newline and backslash as \ooo (fs/proc_namespace.c, mangle()). */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1)) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }

    private static boolean isOctal(String s, int from) {
        if (from + 3 > s.length()) {
            return false;
        }
        for (int i = from; i < from + 3; i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '7') {
                return false;
            }
        }
        return true;
    }
}
