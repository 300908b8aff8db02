//! A CSV file as `quorate upload` reads it (`protocols::dataset::read_csv`): with the schema
//! given by the first input byte (one of the examples' schemas, or none: inferred), then the
//! rest as the file.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use protocols::dataset::{Schema, read_csv};

const SCHEMAS: [&str; 4] = [
    include_str!("../../examples/data/orders/schema.toml"),
    include_str!("../../examples/data/auction/schema.toml"),
    include_str!("../../examples/data/record-match/schema.toml"),
    quorate_fuzz::PAYROLL,
];

fn schemas() -> &'static [Schema] {
    static PARSED: OnceLock<Vec<Schema>> = OnceLock::new();
    PARSED.get_or_init(|| {
        SCHEMAS
            .iter()
            .map(|text| Schema::from_toml(text, "schema.toml").expect("the schemas parse"))
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, csv)) = data.split_first() else {
        return;
    };
    let schema = schemas().get(usize::from(pick) % (SCHEMAS.len() + 1));
    if let Ok(table) = read_csv(csv, "fuzz.csv", schema) {
        if let Some(schema) = schema {
            assert_eq!(&table.schema, schema);
        }
    }
});
