package io.lockstep.metrics;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/** Serves a registry's metrics in the Prometheus text format at {@code GET /metrics}; nothing else. */
public final class MetricsEndpoint implements AutoCloseable {
    public static final String PATH = "/metrics";

    private final HttpServer server;
    private final ExecutorService executor;

    private MetricsEndpoint(HttpServer server, ExecutorService executor) {
        this.server = server;
        this.executor = executor;
    }

    /** Binds {@code HOST:PORT} (port 0 picks a free one) and serves until closed. */
    public static MetricsEndpoint start(String listen, PrometheusMeterRegistry registry) throws IOException {
        InetSocketAddress bind = parse(listen);
        HttpServer server;
        try {
            server = HttpServer.create(bind, 16);
        } catch (IOException e) {
            throw new IOException("--metrics-listen " + listen + ": cannot bind: " + e.getMessage(), e);
        }
        // One thread: a scrape is a few kilobytes, and a slow scraper must not take more.
        ExecutorService executor = Executors.newSingleThreadExecutor(runnable -> {
            Thread thread = new Thread(runnable, "lockstep-metrics-" + bind.getPort());
            thread.setDaemon(true);
            return thread;
        });
        server.setExecutor(executor);
        server.createContext("/", exchange -> respond(exchange, registry));
        server.start();
        return new MetricsEndpoint(server, executor);
    }

    /** {@code HOST:PORT}, with a clear error naming the option. */
    public static InetSocketAddress parse(String listen) {
        int colon = listen.lastIndexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("--metrics-listen must be HOST:PORT, not '" + listen + "'");
        }
        String host = listen.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(listen.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--metrics-listen must be HOST:PORT, not '" + listen + "'");
        }
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("--metrics-listen: port " + port + " is out of range");
        }
        return new InetSocketAddress(host.isEmpty() ? "0.0.0.0" : host, port);
    }

    private static void respond(HttpExchange exchange, PrometheusMeterRegistry registry) throws IOException {
        try (exchange) {
            boolean metrics = exchange.getRequestURI().getPath().equals(PATH);
            if (!metrics || !exchange.getRequestMethod().equals("GET")) {
                byte[] body = ("only GET " + PATH + " is served here\n").getBytes(StandardCharsets.UTF_8);
                exchange.sendResponseHeaders(metrics ? 405 : 404, body.length);
                exchange.getResponseBody().write(body);
                return;
            }
            byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        }
    }

    public int port() {
        return server.getAddress().getPort();
    }

    /** Where to scrape, as bound (a wildcard address stays one). */
    public String url() {
        return "http://" + server.getAddress().getHostString() + ":" + port() + PATH;
    }

    @Override
    public void close() {
        server.stop(0);
        executor.shutdownNow();
    }
}
