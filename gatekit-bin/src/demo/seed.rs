//! The demo's `shop` database: customers with names, e-mails, phones, SSNs and payment
//! cards (well-known, Luhn-valid test card numbers and valid-format, made-up SSNs), and
//! their orders.

/// The customers, one CSV row each (`name,email,phone,ssn,card_number,card_expiry,city`;
/// no field holds a comma).
const CUSTOMERS: &str = include_str!("customers.csv");

/// One seeded customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer<'a> {
    /// Full name.
    pub name: &'a str,
    /// E-mail address.
    pub email: &'a str,
    /// Phone number, in the varied ways people write them.
    pub phone: &'a str,
    /// US social security number, `AAA-GG-SSSS`.
    pub ssn: &'a str,
    /// Card number, with or without separators.
    pub card_number: &'a str,
    /// Card expiry, `MM/YY`.
    pub card_expiry: &'a str,
    /// City.
    pub city: &'a str,
}

/// The seeded customers, in id order.
pub fn customers() -> Vec<Customer<'static>> {
    CUSTOMERS
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .filter_map(|line| {
            let mut f = line.split(',').map(str::trim);
            Some(Customer {
                name: f.next()?,
                email: f.next()?,
                phone: f.next()?,
                ssn: f.next()?,
                card_number: f.next()?,
                card_expiry: f.next()?,
                city: f.next()?,
            })
        })
        .collect()
}

/// A SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL that creates and fills the `shop` tables, run as their owner `owner`.
pub fn shop_sql(owner: &str) -> String {
    let mut sql = format!(
        "BEGIN;
SET ROLE {owner};
CREATE TABLE customers (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE,
    phone       text,
    ssn         text,
    card_number text,
    card_expiry text,
    city        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE orders (
    id          serial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers(id),
    total       numeric(10,2) NOT NULL,
    status      text NOT NULL,
    note        text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
"
    );
    for c in customers() {
        sql.push_str(&format!(
            "INSERT INTO customers (name, email, phone, ssn, card_number, card_expiry, city) \
             VALUES ({}, {}, {}, {}, {}, {}, {});\n",
            literal(c.name),
            literal(c.email),
            literal(c.phone),
            literal(c.ssn),
            literal(c.card_number),
            literal(c.card_expiry),
            literal(c.city),
        ));
    }
    // Three orders per customer, with deterministic totals; one note quotes a card and an
    // e-mail, which only the value detectors can find.
    sql.push_str(
        "INSERT INTO orders (customer_id, total, status, created_at)
SELECT c.id, round(((c.id * 37 + n * 11) % 400 + 9.99)::numeric, 2),
       (ARRAY['paid', 'shipped', 'refunded'])[1 + (c.id + n) % 3],
       now() - make_interval(days => c.id * 3 + n)
FROM customers c CROSS JOIN generate_series(1, 3) n;
UPDATE orders SET note = 'customer asked to charge 4111 1111 1111 1111 instead, confirm to ada.lovelace@example.com'
WHERE id = 1;
RESET ROLE;
COMMIT;
",
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    fn luhn_valid(number: &str) -> bool {
        let digits: Vec<u32> = number.chars().filter_map(|c| c.to_digit(10)).collect();
        let sum: u32 = digits
            .iter()
            .rev()
            .enumerate()
            .map(|(i, &d)| match (i % 2, d * 2) {
                (1, x) if x > 9 => x - 9,
                (1, x) => x,
                _ => d,
            })
            .sum();
        (13..=19).contains(&digits.len()) && sum.is_multiple_of(10)
    }

    /// `AAA-GG-SSSS` with the ranges the SSA never issues left out.
    fn ssn_valid_format(ssn: &str) -> bool {
        let parts: Vec<&str> = ssn.split('-').collect();
        let [area, group, serial] = parts.as_slice() else {
            return false;
        };
        let num = |s: &str, len| {
            (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        matches!(
            (num(area, 3), num(group, 2), num(serial, 4)),
            (Some(a), Some(g), Some(s)) if a != 0 && a != 666 && a < 900 && g != 0 && s != 0
        )
    }

    #[test]
    fn the_checks_tell_good_from_bad() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("4111 1111 1111 1112"));
        assert!(!luhn_valid("4111"));
        assert!(ssn_valid_format("457-55-5462"));
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "123-00-4567",
            "123-45-0000",
            "12-345-6789",
        ] {
            assert!(!ssn_valid_format(bad), "{bad}");
        }
    }

    #[test]
    fn every_customer_row_is_complete_and_realistic() {
        let all = customers();
        let rows = CUSTOMERS
            .lines()
            .skip(1)
            .filter(|l| !l.trim().is_empty())
            .count();
        assert_eq!(all.len(), rows, "a row has too few fields");
        assert!(all.len() >= 20);
        for c in &all {
            assert!(
                luhn_valid(c.card_number),
                "{}: card {}",
                c.name,
                c.card_number
            );
            assert!(ssn_valid_format(c.ssn), "{}: ssn {}", c.name, c.ssn);
            let domain = c.email.split_once('@').map(|(_, d)| d);
            assert!(
                matches!(domain, Some("example.com" | "example.org" | "example.net")),
                "{}",
                c.email
            );
            assert!(
                c.phone.chars().filter(char::is_ascii_digit).count() >= 7,
                "{}",
                c.phone
            );
        }
    }

    #[test]
    fn cards_cover_several_networks_and_layouts() {
        let all = customers();
        let first: std::collections::BTreeSet<char> = all
            .iter()
            .filter_map(|c| c.card_number.chars().next())
            .collect();
        assert!(first.len() >= 4, "networks by first digit: {first:?}");
        assert!(all.iter().any(|c| c.card_number.contains(' ')));
        assert!(all.iter().any(|c| c.card_number.contains('-')));
        assert!(
            all.iter()
                .any(|c| c.card_number.bytes().all(|b| b.is_ascii_digit()))
        );
        let emails: std::collections::BTreeSet<&str> = all.iter().map(|c| c.email).collect();
        assert_eq!(emails.len(), all.len(), "e-mails are unique");
    }

    #[test]
    fn sql_quotes_every_value() {
        assert_eq!(literal("O'Brien"), "'O''Brien'");
        let sql = shop_sql("shop_app");
        assert!(sql.starts_with("BEGIN;\nSET ROLE shop_app;"));
        assert!(sql.ends_with("COMMIT;\n"));
        assert_eq!(
            sql.matches("INSERT INTO customers").count(),
            customers().len()
        );
    }
}
