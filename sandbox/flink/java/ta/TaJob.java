package ta;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;
import org.apache.flink.util.ParameterTool;

/**
 * A stand-in for the torghut-ta job: trades are generated at a fixed rate, a keyed
 * "indicator" keeps a running count per symbol (so checkpoints carry state), and the
 * results are discarded. When the file named by --fail-marker exists, the indicator throws
 * the error the production ClickHouse writer throws on a full disk; the fixed-delay restart
 * strategy gives up after --restart-attempts and the job ends FAILED. A marker holding a
 * number N makes only the next N attempts fail (a job that restarts and recovers).
 * --checkpoint-interval-ms 0 leaves periodic checkpoints off.
 *
 * Arguments: --fail-marker PATH [--restart-attempts 2] [--restart-delay-ms 500]
 *            [--checkpoint-interval-ms 1000] [--rate 50] [--job-name torghut-ta]
 */
public final class TaJob {
    static final String[] SYMBOLS = {"NVDA", "AAPL", "MSFT", "AMD"};

    private TaJob() {}

    public static void main(String[] args) throws Exception {
        ParameterTool params = ParameterTool.fromArgs(args);
        String marker = params.getRequired("fail-marker");

        Configuration conf = new Configuration();
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(
                RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS,
                params.getInt("restart-attempts", 2));
        conf.set(
                RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY,
                Duration.ofMillis(params.getLong("restart-delay-ms", 500)));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
        env.setParallelism(1);
        long checkpointInterval = params.getLong("checkpoint-interval-ms", 1000);
        if (checkpointInterval > 0) {
            env.enableCheckpointing(checkpointInterval);
        }

        DataGeneratorSource<Long> trades =
                new DataGeneratorSource<>(
                        index -> index,
                        Long.MAX_VALUE,
                        RateLimiterStrategy.perSecond(params.getDouble("rate", 50)),
                        Types.LONG);

        env.fromSource(trades, WatermarkStrategy.noWatermarks(), "trades")
                .map(new ToSymbol())
                .name("symbol")
                .keyBy(symbol -> symbol)
                .process(new Indicator(marker))
                .name("ta-indicator")
                .sinkTo(new DiscardingSink<>())
                .name("discard");

        env.execute(params.get("job-name", "torghut-ta"));
    }

    /** Assigns each generated trade to a symbol. */
    static final class ToSymbol implements MapFunction<Long, String> {
        @Override
        public String map(Long index) {
            return SYMBOLS[(int) (index % SYMBOLS.length)];
        }
    }

    /**
     * Counts trades per symbol; fails while the marker file exists. The marker holds either
     * "always" (fail until it is removed) or a number N: fail N more times, counting down in the
     * file (each failure is a new task attempt, so the count cannot live in memory).
     */
    static final class Indicator extends KeyedProcessFunction<String, String, String> {
        private static final long MARKER_CHECK_EVERY_MS = 100;
        private final String marker;
        private transient ValueState<Long> count;
        private transient long nextCheck;

        Indicator(String marker) {
            this.marker = marker;
        }

        @Override
        public void open(org.apache.flink.api.common.functions.OpenContext context) {
            count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
        }

        @Override
        public void processElement(String symbol, Context ctx, Collector<String> out)
                throws Exception {
            long now = System.currentTimeMillis();
            if (now >= nextCheck) {
                nextCheck = now + MARKER_CHECK_EVERY_MS;
                if (consumeFailure(Paths.get(marker))) {
                    throw new RuntimeException(
                            "simulated ClickHouse insert failure: No space left on device");
                }
            }
            Long seen = count.value();
            long next = seen == null ? 1 : seen + 1;
            count.update(next);
            out.collect(symbol + "=" + next);
        }

        /** True when this attempt must fail; spends one failure of a counted marker. */
        static boolean consumeFailure(Path path) throws IOException {
            String content;
            try {
                content = Files.readString(path).trim();
            } catch (NoSuchFileException e) {
                return false;
            }
            long remaining;
            try {
                remaining = Long.parseLong(content);
            } catch (NumberFormatException e) {
                return true; // "always" or anything else: fail until the marker is removed
            }
            if (remaining <= 0) {
                Files.deleteIfExists(path);
                return false;
            }
            if (remaining == 1) {
                Files.deleteIfExists(path);
            } else {
                Files.writeString(path, Long.toString(remaining - 1));
            }
            return true;
        }
    }
}
