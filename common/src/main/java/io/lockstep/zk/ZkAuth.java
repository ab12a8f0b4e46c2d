package io.lockstep.zk;

import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;
import org.apache.zookeeper.data.Id;
import org.apache.zookeeper.server.auth.DigestAuthenticationProvider;

import java.nio.charset.StandardCharsets;
import java.security.NoSuchAlgorithmException;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * ZooKeeper digest credentials: the session authenticates as {@code user:password} and every
 * node it creates under the Lockstep root is readable and writable by that identity only.
 * Agents and coordinators must therefore all use the same credentials: that is what lets a
 * coordinator read the ephemeral nodes agents create, and agents the nodes coordinators create.
 * Digest credentials travel in clear unless the ZooKeeper connection itself uses TLS.
 */
public final class ZkAuth {
    public static final String ENV = "LOCKSTEP_ZK_AUTH";

    private final String user;
    private final String password;

    private ZkAuth(String user, String password) {
        this.user = user;
        this.password = password;
    }

    /** {@code USER:PASSWORD}; the password may itself hold colons. */
    public static ZkAuth parse(String userColonPassword) {
        int colon = userColonPassword.indexOf(':');
        if (colon <= 0 || colon == userColonPassword.length() - 1) {
            // Never echo the value: it is a password.
            throw new IllegalArgumentException("--zk-auth (or $" + ENV + ") must be USER:PASSWORD with both parts non-empty");
        }
        return new ZkAuth(userColonPassword.substring(0, colon), userColonPassword.substring(colon + 1));
    }

    /** The {@code --zk-auth} option, else {@value #ENV}, else no credentials. */
    public static Optional<ZkAuth> resolve(String option, Map<String, String> env) {
        if (option != null && !option.isBlank()) {
            return Optional.of(parse(option));
        }
        String fromEnv = env.get(ENV);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return Optional.of(parse(fromEnv));
        }
        return Optional.empty();
    }

    public String user() {
        return user;
    }

    /** What the session sends with {@code addAuthInfo("digest", …)}. */
    public byte[] authBytes() {
        return (user + ":" + password).getBytes(StandardCharsets.UTF_8);
    }

    /** All permissions for this identity, and nothing for anyone else. */
    public List<ACL> acl() {
        try {
            String digest = DigestAuthenticationProvider.generateDigest(user + ":" + password);
            // Not List.of: ZooKeeper checks acl.contains(null), which immutable lists answer with an NPE.
            return Collections.singletonList(new ACL(ZooDefs.Perms.ALL, new Id("digest", digest)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-1, which ZooKeeper digest ACLs need", e);
        }
    }

    @Override
    public String toString() {
        return "ZkAuth[" + user + ":***]";
    }
}
