package io.lockstep.agent.server;

import java.util.List;

/** Who is calling the agent, as the transport proves it (see {@link AccessPolicy}). */
sealed interface Caller {
    /** A process on this host, through the local socket: the kernel's SO_PEERCRED, not anything it said. */
    record LocalUser(int uid, int gid, int pid) implements Caller {
        boolean root() {
            return uid == 0;
        }

        @Override
        public String toString() {
            return "local uid " + uid + " gid " + gid + " (pid " + pid + ")";
        }
    }

    /** A client over mutual TLS whose certificate names one of the agent's --tls-allowed-client names. */
    record Coordinator(String name) implements Caller {
        @Override
        public String toString() {
            return "coordinator " + name + " (mutual TLS)";
        }
    }

    /** A client over mutual TLS, signed by the CA, whose certificate names none of the allowed names. */
    record UnlistedCertificate(List<String> names) implements Caller {
        @Override
        public String toString() {
            return "TLS client " + names;
        }
    }

    /** A plaintext TCP client: nobody knows who; trusted only when the operator said --insecure-plaintext. */
    record PlaintextTcp(String address, boolean trusted) implements Caller {
        @Override
        public String toString() {
            return "plaintext TCP client " + address;
        }
    }
}
