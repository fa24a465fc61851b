// The Java client (kafka-clients 4.1.2) in the ways the captures need. Run by record.sh with
// Java's source launcher, against the jars kafka.sh setup copied:
//   java -cp '/opt/kapture-rec/kafka/lib/*' Rec.java MODE BOOTSTRAP ARGS...
// Modes (every loop is bounded in count and time):
//   produce BOOT TOPIC N CODEC [PROPS]          idempotent producer, acks=all, N records
//   consume BOOT TOPIC GROUP PROTOCOL N [PROPS] group consumer (classic|consumer), N records
//   txn BOOT TOPIC TXID N                       transactions: commit N, abort N, commit N
//   committed BOOT TOPIC GROUP N                read_committed consumer, expects N records
//   steady BOOT TOPIC SECONDS                   one record each 50 ms for SECONDS (failover)
import java.io.FileInputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public class Rec {
    static Properties base(String boot, String props, String clientId) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", boot);
        p.put("client.id", clientId);
        if (props != null && !props.isEmpty()) {
            try (FileInputStream in = new FileInputStream(props)) {
                p.load(in);
            }
        }
        return p;
    }

    static KafkaProducer<String, String> producer(Properties p) {
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    static KafkaConsumer<String, String> consumer(Properties p) {
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    static String value(int i) {
        // compressible, 100 bytes
        StringBuilder b = new StringBuilder("value-" + i + "-");
        while (b.length() < 100) b.append("kapture");
        return b.substring(0, 100);
    }

    static ProducerRecord<String, String> record(String topic, int i, String tag) {
        ProducerRecord<String, String> r = new ProducerRecord<>(topic, "key-" + i, value(i));
        r.headers().add("idx", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
        r.headers().add("tag", tag.getBytes(StandardCharsets.UTF_8));
        return r;
    }

    static void produce(String boot, String topic, int n, String codec, String props) throws Exception {
        Properties p = base(boot, props, "java-producer-" + codec);
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("compression.type", codec);
        p.put("linger.ms", "20");
        p.put("batch.size", "4096");
        try (KafkaProducer<String, String> pr = producer(p)) {
            Future<RecordMetadata> last = null;
            for (int i = 0; i < n; i++) {
                last = pr.send(record(topic, i, codec));
                if (i % 10 == 9) pr.flush();
            }
            pr.flush();
            if (last != null) System.out.println("last offset " + last.get().offset());
        }
    }

    static int drain(KafkaConsumer<String, String> c, int n, long deadlineMs) {
        int got = 0;
        long end = System.currentTimeMillis() + deadlineMs;
        while (got < n && System.currentTimeMillis() < end) {
            ConsumerRecords<String, String> rs = c.poll(Duration.ofMillis(500));
            for (ConsumerRecord<String, String> r : rs) got++;
        }
        return got;
    }

    static void consume(String boot, String topic, String group, String protocol, int n, String props)
            throws Exception {
        Properties p = base(boot, props, "java-consumer-" + protocol);
        p.put("group.id", group);
        p.put("group.protocol", protocol);
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        if (protocol.equals("classic")) {
            p.put("session.timeout.ms", "10000");
            p.put("heartbeat.interval.ms", "1000");
        }
        try (KafkaConsumer<String, String> c = consumer(p)) {
            c.subscribe(List.of(topic.split(",")));
            int got = drain(c, n, 30000);
            c.commitSync(Duration.ofSeconds(10));
            System.out.println("consumed " + got + " of " + n);
            if (got < n) System.exit(1);
        }
    }

    static void txn(String boot, String topic, String txid, int n) throws Exception {
        Properties p = base(boot, null, "java-txn");
        p.put("transactional.id", txid);
        p.put("acks", "all");
        p.put("linger.ms", "5");
        try (KafkaProducer<String, String> pr = producer(p)) {
            pr.initTransactions();
            String[] outcome = {"commit", "abort", "commit"};
            int i = 0;
            for (String o : outcome) {
                pr.beginTransaction();
                for (int k = 0; k < n; k++, i++) pr.send(record(topic, i, o));
                pr.flush();
                if (o.equals("commit")) pr.commitTransaction();
                else pr.abortTransaction();
            }
        }
    }

    static void committed(String boot, String topic, String group, int n) throws Exception {
        Properties p = base(boot, null, "java-read-committed");
        p.put("group.id", group);
        p.put("group.protocol", "consumer");
        p.put("isolation.level", "read_committed");
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        try (KafkaConsumer<String, String> c = consumer(p)) {
            c.subscribe(List.of(topic));
            int got = 0;
            long end = System.currentTimeMillis() + 30000;
            while (got < n && System.currentTimeMillis() < end) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    String tag = new String(r.headers().lastHeader("tag").value(), StandardCharsets.UTF_8);
                    if (!tag.equals("commit")) {
                        System.out.println("read an aborted record: " + r.key());
                        System.exit(1);
                    }
                    got++;
                }
            }
            c.commitSync(Duration.ofSeconds(10));
            System.out.println("read_committed got " + got + " of " + n);
            if (got != n) System.exit(1);
        }
    }

    static void steady(String boot, String topic, int seconds) throws Exception {
        Properties p = base(boot, null, "java-failover");
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("linger.ms", "0");
        p.put("retry.backoff.ms", "100");
        p.put("delivery.timeout.ms", "60000");
        try (KafkaProducer<String, String> pr = producer(p)) {
            long end = System.currentTimeMillis() + seconds * 1000L;
            int i = 0, ok = 0, failed = 0;
            java.util.List<Future<RecordMetadata>> fs = new java.util.ArrayList<>();
            while (System.currentTimeMillis() < end && i < 2000) {
                fs.add(pr.send(record(topic, i++, "steady")));
                Thread.sleep(50);
            }
            pr.flush();
            for (Future<RecordMetadata> f : fs) {
                try {
                    f.get();
                    ok++;
                } catch (Exception e) {
                    failed++;
                }
            }
            System.out.println("steady: sent " + i + ", acked " + ok + ", failed " + failed);
        }
    }

    public static void main(String[] a) throws Exception {
        switch (a[0]) {
            case "produce" -> produce(a[1], a[2], Integer.parseInt(a[3]), a[4], a.length > 5 ? a[5] : null);
            case "consume" -> consume(a[1], a[2], a[3], a[4], Integer.parseInt(a[5]), a.length > 6 ? a[6] : null);
            case "txn" -> txn(a[1], a[2], a[3], Integer.parseInt(a[4]));
            case "committed" -> committed(a[1], a[2], a[3], Integer.parseInt(a[4]));
            case "steady" -> steady(a[1], a[2], Integer.parseInt(a[3]));
            default -> throw new IllegalArgumentException(a[0]);
        }
    }
}
