package io.lockstep.bench.report;

import io.lockstep.bench.Result;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import java.util.function.ToDoubleFunction;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How the costs grow, as one PNG of three log-log panels: checkpoint latency and frozen window
 * against the host floor by agent count; ZooKeeper requests and RPCs per checkpoint by agent
 * count; restore prepare against raw fcntl by lock count. Java2D, headless.
 */
final class ScalingPlot {
    private static final int PANEL_W = 520;
    private static final int PANEL_H = 420;
    private static final int LEFT = 70;
    private static final int RIGHT = 20;
    private static final int TOP = 40;
    private static final int BOTTOM = 95;
    private static final Color[] COLORS = {new Color(0x1f77b4), new Color(0xd62728), new Color(0x2ca02c),
            new Color(0x9467bd)};
    private static final Pattern LEADING_NUMBER = Pattern.compile("^(\\d+)");
    private static final Pattern PREPARE_CASE = Pattern.compile("^(\\d+) locks on 1000 files$");

    record Point(double x, double y) {
    }

    record Series(String name, List<Point> points, boolean dashed) {
    }

    record Panel(String title, String xLabel, String yLabel, List<Series> series) {
    }

    private ScalingPlot() {
    }

    static void write(RunResults run, Path png) throws IOException {
        List<Panel> panels = List.of(
                new Panel("Checkpoint vs agents (3-server ZooKeeper)", "agents", "ms", List.of(
                        series(run, "checkpoint", "checkpoint-latency-median", "latency", Result::value, false),
                        series(run, "checkpoint", "frozen-window-median", "frozen window", Result::value, false),
                        series(run, "checkpoint", "frozen-window-median", "host floor", Result::floor, true))),
                new Panel("Requests per checkpoint vs agents", "agents", "count", List.of(
                        series(run, "checkpoint", "zk-writes-per-checkpoint", "ZooKeeper writes", Result::value, false),
                        series(run, "checkpoint", "zk-reads-per-checkpoint", "ZooKeeper reads", Result::value, false),
                        series(run, "checkpoint", "rpcs-per-checkpoint", "agent RPCs", Result::value, false))),
                new Panel("Restore prepare vs locks (1000 files)", "locks", "ms", List.of(
                        prepare(run, "prepare (stub)", Result::value, false),
                        prepare(run, "raw fcntl floor", Result::floor, true))));
        BufferedImage image = new BufferedImage(PANEL_W * panels.size(), PANEL_H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = image.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, image.getWidth(), image.getHeight());
            for (int i = 0; i < panels.size(); i++) {
                draw((Graphics2D) g.create(i * PANEL_W, 0, PANEL_W, PANEL_H), panels.get(i));
            }
        } finally {
            g.dispose();
        }
        Files.createDirectories(png.toAbsolutePath().getParent());
        if (!ImageIO.write(image, "png", png.toFile())) {
            throw new IOException(png + ": no PNG writer in this JVM");
        }
    }

    private static Series series(RunResults run, String suite, String metric, String name,
                                 ToDoubleFunction<Result> y, boolean dashed) {
        List<Point> points = new ArrayList<>();
        for (Result r : run.of(suite, metric)) {
            Matcher m = LEADING_NUMBER.matcher(r.caseName());
            if (m.find()) {
                points.add(new Point(Double.parseDouble(m.group(1)), y.applyAsDouble(r)));
            }
        }
        return new Series(name, points, dashed);
    }

    private static Series prepare(RunResults run, String name, ToDoubleFunction<Result> y, boolean dashed) {
        List<Point> points = new ArrayList<>();
        for (Result r : run.of("restore", "prepare-median")) {
            Matcher m = PREPARE_CASE.matcher(r.caseName());
            if (m.matches()) {
                points.add(new Point(Double.parseDouble(m.group(1)), y.applyAsDouble(r)));
            }
        }
        return new Series(name, points, dashed);
    }

    private static void draw(Graphics2D g, Panel panel) {
        int w = PANEL_W - LEFT - RIGHT;
        int h = PANEL_H - TOP - BOTTOM;
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.setColor(Color.BLACK);
        centered(g, panel.title(), PANEL_W / 2, 22);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        TreeSet<Double> xs = new TreeSet<>();
        double yMin = Double.MAX_VALUE;
        double yMax = 0;
        for (Series s : panel.series()) {
            for (Point p : s.points()) {
                if (p.x() > 0 && p.y() > 0 && Double.isFinite(p.y())) {
                    xs.add(p.x());
                    yMin = Math.min(yMin, p.y());
                    yMax = Math.max(yMax, p.y());
                }
            }
        }
        g.setColor(Color.GRAY);
        g.drawRect(LEFT, TOP, w, h);
        if (xs.isEmpty()) {
            centered(g, "not measured in this run", LEFT + w / 2, TOP + h / 2);
            return;
        }
        double lx0 = Math.log10(xs.first());
        double lx1 = Math.log10(xs.last());
        if (lx1 - lx0 < 1e-9) {
            lx0 -= 0.5;
            lx1 += 0.5;
        }
        double ly0 = Math.floor(Math.log10(yMin));
        double ly1 = Math.ceil(Math.log10(yMax));
        if (ly1 - ly0 < 1) {
            ly1 = ly0 + 1;
        }
        Axis axis = new Axis(LEFT, TOP, w, h, lx0, lx1, ly0, ly1);
        FontMetrics fm = g.getFontMetrics();
        for (double x : xs) {
            int px = axis.px(x);
            g.setColor(new Color(0xeeeeee));
            g.drawLine(px, TOP, px, TOP + h);
            g.setColor(Color.BLACK);
            centered(g, label(x), px, TOP + h + 16);
        }
        for (int d = (int) ly0; d <= (int) ly1; d++) {
            int py = axis.py(Math.pow(10, d));
            g.setColor(new Color(0xeeeeee));
            g.drawLine(LEFT, py, LEFT + w, py);
            g.setColor(Color.BLACK);
            String text = label(Math.pow(10, d));
            g.drawString(text, LEFT - 6 - fm.stringWidth(text), py + fm.getAscent() / 2 - 1);
        }
        centered(g, panel.xLabel() + " (log scale)", LEFT + w / 2, TOP + h + 34);
        Graphics2D rotated = (Graphics2D) g.create();
        rotated.rotate(-Math.PI / 2);
        centered(rotated, panel.yLabel() + " (log scale)", -(TOP + h / 2), 16);
        rotated.dispose();
        int legendY = TOP + h + 52;
        int legendX = LEFT;
        for (int i = 0; i < panel.series().size(); i++) {
            Series s = panel.series().get(i);
            g.setColor(COLORS[i % COLORS.length]);
            g.setStroke(stroke(s.dashed()));
            Path2D line = new Path2D.Double();
            boolean first = true;
            for (Point p : s.points()) {
                if (p.y() <= 0 || !Double.isFinite(p.y())) {
                    continue;
                }
                int px = axis.px(p.x());
                int py = axis.py(p.y());
                if (first) {
                    line.moveTo(px, py);
                } else {
                    line.lineTo(px, py);
                }
                first = false;
                g.fillOval(px - 3, py - 3, 7, 7);
            }
            g.draw(line);
            g.drawLine(legendX, legendY - 4, legendX + 24, legendY - 4);
            g.setColor(Color.BLACK);
            g.drawString(s.name(), legendX + 30, legendY);
            legendX += 40 + fm.stringWidth(s.name());
            if (legendX > PANEL_W - 120) {
                legendX = LEFT;
                legendY += 18;
            }
        }
    }

    private static BasicStroke stroke(boolean dashed) {
        return dashed ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, new float[]{6f, 4f}, 0f)
                : new BasicStroke(2f);
    }

    /** Log-log mapping from values to pixels. */
    private record Axis(int left, int top, int w, int h, double lx0, double lx1, double ly0, double ly1) {
        int px(double x) {
            return left + (int) Math.round((Math.log10(x) - lx0) / (lx1 - lx0) * w);
        }

        int py(double y) {
            return top + h - (int) Math.round((Math.log10(y) - ly0) / (ly1 - ly0) * h);
        }
    }

    private static String label(double v) {
        if (v >= 1000 && v % 1000 == 0) {
            return (long) (v / 1000) + "k";
        }
        if (v >= 1) {
            return String.format(Locale.ROOT, "%d", (long) v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }

    private static void centered(Graphics2D g, String text, int x, int y) {
        g.drawString(text, x - g.getFontMetrics().stringWidth(text) / 2, y);
    }
}
