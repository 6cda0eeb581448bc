// Drives Floe's Flight SQL server through the Arrow Flight SQL JDBC driver,
// as a BI tool would: DatabaseMetaData, then a query and an INSERT. Prints
// one line per fact; interop/test_jdbc.py checks every line.
//
// java --add-opens=java.base/java.nio=ALL-UNNAMED -cp flight-sql-jdbc-driver.jar FlightJdbc.java URL

import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;

public class FlightJdbc {
    public static void main(String[] args) throws Exception {
        Connection conn = DriverManager.getConnection(args[0]);
        DatabaseMetaData meta = conn.getMetaData();
        System.out.println("product " + meta.getDatabaseProductName() + " quote " + meta.getIdentifierQuoteString());
        System.out.println("transactions " + meta.supportsTransactions());
        try (ResultSet rs = meta.getCatalogs()) {
            while (rs.next()) System.out.println("catalog " + rs.getString("TABLE_CAT"));
        }
        try (ResultSet rs = meta.getSchemas()) {
            while (rs.next()) System.out.println("schema " + rs.getString("TABLE_CATALOG") + "." + rs.getString("TABLE_SCHEM"));
        }
        try (ResultSet rs = meta.getTables("feat", null, "%", null)) {
            while (rs.next()) {
                System.out.println("table " + rs.getString("TABLE_CAT") + "." + rs.getString("TABLE_SCHEM") + "."
                    + rs.getString("TABLE_NAME") + " " + rs.getString("TABLE_TYPE"));
            }
        }
        try (ResultSet rs = meta.getColumns("feat", "default", "t", "%")) {
            while (rs.next()) {
                System.out.println("column " + rs.getString("TABLE_NAME") + "." + rs.getString("COLUMN_NAME") + " "
                    + rs.getString("TYPE_NAME") + " " + rs.getInt("DATA_TYPE") + " nullable=" + rs.getInt("NULLABLE"));
            }
        }
        try (Statement st = conn.createStatement()) {
            try (ResultSet rs = st.executeQuery("SELECT id, name FROM t ORDER BY id")) {
                while (rs.next()) System.out.println("row " + rs.getLong(1) + " " + rs.getString(2));
            }
            // About 30 MiB: the server's largest messages.
            try (ResultSet rs = st.executeQuery("SELECT value, repeat('x', 300) AS pad FROM generate_series(1, 100000)")) {
                long rows = 0, sum = 0;
                while (rs.next()) {
                    rows++;
                    sum += rs.getLong(1) + rs.getString(2).length();
                }
                System.out.println("large " + rows + " " + sum);
            }
            System.out.println("inserted " + st.executeUpdate("INSERT INTO t VALUES (3, 'c'), (4, 'd')"));
            try (ResultSet rs = st.executeQuery("SELECT count(*) AS n FROM t")) {
                rs.next();
                System.out.println("count " + rs.getLong("n"));
            }
        }
        try {
            conn.close();
        } catch (SQLException e) {
            // Driver 18.3.0 closes its client twice when catalog= is set
            // (fixed in 19.0.0): the session is closed by then.
        }
    }
}
