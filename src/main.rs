//! The `rocks-compile` binary: everything happens in [`rocks_compile::cli::run`].

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = rocks_compile::cli::run(std::env::args_os());
    std::process::exit(code);
}
