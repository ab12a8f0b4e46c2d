package io.lockstep.coordinator.cli;

import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;

/** The version Maven wrote into {@code lockstep-version.properties} at build time. */
final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() throws IOException {
        Properties properties = new Properties();
        try (InputStream in = VersionProvider.class.getResourceAsStream("/lockstep-version.properties")) {
            if (in == null) {
                return new String[] {"lockstep coordinator (version unknown: built without resources)"};
            }
            properties.load(in);
        }
        return new String[] {"lockstep coordinator " + properties.getProperty("version"),
                "Java " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + ")"};
    }
}
