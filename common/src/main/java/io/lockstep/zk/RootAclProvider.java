package io.lockstep.zk;

import org.apache.curator.framework.api.ACLProvider;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.ACL;

import java.util.List;

/**
 * Gives the Lockstep root and everything under it the ACL of the Lockstep identity. Parents
 * that Curator creates above the root (for a root such as /apps/lockstep) stay open: they may be
 * shared with other applications, and locking them would lock those out.
 */
final class RootAclProvider implements ACLProvider {
    private final String root;
    private final List<ACL> acl;

    RootAclProvider(String root, List<ACL> acl) {
        this.root = root;
        this.acl = acl;
    }

    @Override
    public List<ACL> getDefaultAcl() {
        return ZooDefs.Ids.OPEN_ACL_UNSAFE;
    }

    @Override
    public List<ACL> getAclForPath(String path) {
        return path.equals(root) || path.startsWith(root + "/") ? acl : ZooDefs.Ids.OPEN_ACL_UNSAFE;
    }
}
