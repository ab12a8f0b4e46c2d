package io.lockstep.coordinator.testing;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scrape of a real /metrics endpoint, parsed from the Prometheus text format (0.0.4) into
 * samples: a line the format does not allow fails the parse, naming it.
 */
public final class PrometheusText {
    private static final Pattern SAMPLE = Pattern.compile("([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{(.*)})? (\\S+)( \\d+)?");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\",?");

    public record Sample(String name, Map<String, String> labels, double value) {
    }

    private final List<Sample> samples;

    private PrometheusText(List<Sample> samples) {
        this.samples = samples;
    }

    /** GETs {@code http://127.0.0.1:port/metrics} and parses it. */
    public static PrometheusText scrape(int port) throws IOException, InterruptedException {
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
        HttpResponse<String> response = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                .timeout(Duration.ofSeconds(30)).GET().build(), HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new AssertionError("GET /metrics on port " + port + ": HTTP " + response.statusCode() + ": " + response.body());
        }
        String type = response.headers().firstValue("Content-Type").orElse("");
        if (!type.startsWith("text/plain")) {
            throw new AssertionError("GET /metrics on port " + port + ": Content-Type " + type);
        }
        return parse(response.body());
    }

    public static PrometheusText parse(String text) {
        List<Sample> samples = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isBlank() || line.startsWith("#")) {
                continue;
            }
            Matcher sample = SAMPLE.matcher(line);
            if (!sample.matches()) {
                throw new AssertionError("not a Prometheus sample line: " + line);
            }
            Map<String, String> labels = new LinkedHashMap<>();
            String labelText = sample.group(3) == null ? "" : sample.group(3);
            Matcher label = LABEL.matcher(labelText);
            int end = 0;
            while (label.lookingAt()) {
                labels.put(label.group(1), label.group(2));
                end = label.end();
                label.region(end, labelText.length());
            }
            if (end != labelText.length()) {
                throw new AssertionError("bad labels in Prometheus line: " + line);
            }
            samples.add(new Sample(sample.group(1), labels, Double.parseDouble(sample.group(4).replace("Inf", "Infinity"))));
        }
        return new PrometheusText(samples);
    }

    /** The one sample called {@code name} whose labels include {@code labelPairs} (name, value, name, value…). */
    public double value(String name, String... labelPairs) {
        List<Sample> matching = matching(name, labelPairs);
        if (matching.size() != 1) {
            throw new AssertionError(matching.size() + " samples " + name + " with labels " + List.of(labelPairs)
                    + " (expected one): " + matching);
        }
        return matching.get(0).value();
    }

    /** As {@link #value}, or 0 when there is no such sample yet. */
    public double valueOrZero(String name, String... labelPairs) {
        return matching(name, labelPairs).isEmpty() ? 0 : value(name, labelPairs);
    }

    public List<Sample> matching(String name, String... labelPairs) {
        List<Sample> matching = new ArrayList<>();
        for (Sample sample : samples) {
            boolean all = sample.name().equals(name);
            for (int i = 0; all && i + 1 < labelPairs.length; i += 2) {
                all = labelPairs[i + 1].equals(sample.labels().get(labelPairs[i]));
            }
            if (all) {
                matching.add(sample);
            }
        }
        return matching;
    }
}
