"""Pure aggregation of records: counts, rates, bounded history. No bcc, no Textual."""
