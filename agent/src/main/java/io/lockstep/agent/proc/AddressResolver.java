package io.lockstep.agent.proc;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;

/** The addresses a host name stands for. The agent asks the system resolver; tests inject a table. */
@FunctionalInterface
public interface AddressResolver {
    AddressResolver SYSTEM = name -> List.of(InetAddress.getAllByName(name));

    /** @throws UnknownHostException when the name resolves to nothing */
    List<InetAddress> addresses(String hostName) throws UnknownHostException;
}
