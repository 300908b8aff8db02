//! A CSV file as `quorate upload` reads it (`protocols::dataset::read_csv`): with the schema
//! given by the first input byte (one of the examples' schemas, or none: inferred), then the
//! rest as the file.
//!
//! One reader serves every input, rewound to the start of each
//! (`protocols::dataset::read_csv_with`; `dataset::tests::a_rewound_reader_reads_as_a_new_one`
//! checks that it reads as a new one): building a reader builds the CSV parser's tables, which
//! under the coverage instrumentation took about half of every execution.
#![no_main]

use std::cell::RefCell;
use std::io::{Cursor, SeekFrom};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use protocols::dataset::{Schema, csv_reader, read_csv_with};

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

thread_local! {
    static READER: RefCell<csv::Reader<Cursor<Vec<u8>>>> =
        RefCell::new(csv_reader(Cursor::new(Vec::new())));
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, csv)) = data.split_first() else {
        return;
    };
    let schema = schemas().get(usize::from(pick) % (SCHEMAS.len() + 1));
    READER.with_borrow_mut(|reader| {
        let mut text = std::mem::take(reader.get_mut()).into_inner();
        text.clear();
        text.extend_from_slice(csv);
        *reader.get_mut() = Cursor::new(text);
        reader
            .seek_raw(SeekFrom::Start(0), csv::Position::new())
            .expect("rewinding an in-memory reader");
        if let Ok(table) = read_csv_with(reader, "fuzz.csv", schema) {
            if let Some(schema) = schema {
                assert_eq!(&table.schema, schema);
            }
        }
    });
});
