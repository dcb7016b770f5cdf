// The reference for lakehook's Quartz cron module: reads "expression<TAB>zone<TAB>start<TAB>n" lines
// and prints Quartz's own next n fire times (UTC), "NONE" past the last, or "ERR<TAB>message".
// Run: java -cp /usr/share/java/quartz2.jar QuartzOracle.java < cases.tsv (Debian: libquartz2-java).
import org.quartz.CronExpression;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.text.ParseException;
import java.text.SimpleDateFormat;
import java.util.Date;
import java.util.TimeZone;

public class QuartzOracle {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        SimpleDateFormat utc = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'");
        utc.setTimeZone(TimeZone.getTimeZone("UTC"));
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.split("\t");
            StringBuilder out = new StringBuilder();
            try {
                CronExpression cron = new CronExpression(parts[0]);
                cron.setTimeZone(TimeZone.getTimeZone(parts[1]));
                Date t = utc.parse(parts[2]);
                int n = Integer.parseInt(parts[3]);
                out.append("OK");
                for (int i = 0; i < n; i++) {
                    t = cron.getNextValidTimeAfter(t);
                    if (t == null) {
                        out.append("\tNONE");
                        break;
                    }
                    out.append("\t").append(utc.format(t));
                }
            } catch (ParseException e) {
                out.append("ERR\t").append(e.getMessage());
            }
            System.out.println(out);
        }
    }
}
